// logship page: helpers shared by the three views (no framework, no build).
"use strict";

var Logship = window.Logship || {};
window.Logship = Logship;

(function (L) {
  // Make an element: el("td", {class: "host"}, "text or child", ...)
  L.el = function (tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (attrs[k] === null || attrs[k] === undefined) continue;
        if (k === "class") node.className = attrs[k];
        else if (k === "text") node.textContent = attrs[k];
        else node.setAttribute(k, attrs[k]);
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  };

  L.$ = function (id) { return document.getElementById(id); };

  // JSON over fetch: resolves {status, body}; rejects only when the
  // network fails.  Cookies (the token) go along: same origin.
  L.api = function (method, path, body) {
    var init = { method: method, headers: { accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        return { status: response.status, body: json };
      });
    });
  };

  L.query = function (params) {
    var parts = [];
    Object.keys(params).forEach(function (k) {
      var v = params[k];
      (Array.isArray(v) ? v : [v]).forEach(function (x) {
        if (x === null || x === undefined || x === "") return;
        parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(x));
      });
    });
    return parts.join("&");
  };

  // "2026-11-26T09:37:00.123456Z" -> "2026-11-26 09:37:00.123"
  L.shortTime = function (iso) {
    if (!iso) return "";
    return iso.replace("T", " ").replace(/(\.\d{3})\d*Z$/, "$1").replace(/Z$/, "");
  };

  // A Date -> the value of a datetime-local input, in UTC.
  L.toLocalInput = function (date) {
    return date.toISOString().slice(0, 19);
  };

  // A datetime-local value (read as UTC) -> ISO 8601 with Z, or "".
  L.fromLocalInput = function (value) {
    if (!value) return "";
    return (value.length === 16 ? value + ":00" : value) + "Z";
  };

  // "-15m" -> milliseconds
  L.relativeMs = function (text) {
    var m = /^-(\d+)([smhdw])$/.exec(text);
    if (!m) return null;
    var unit = { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 }[m[2]];
    return Number(m[1]) * unit;
  };

  L.errorText = function (result) {
    var b = result.body || {};
    var why = b.error || ("HTTP " + result.status);
    return b.parameter ? b.parameter + ": " + why : why;
  };

  L.showError = function (node, text) {
    if (text) {
      node.textContent = text;
      node.hidden = false;
    } else {
      node.textContent = "";
      node.hidden = true;
    }
  };

  // One row of an event (live and search share the look).
  // The RFC 5424 MSGID and STRUCTURED-DATA of an event (API fields "msgid"
  // and "sd"), shown before its message: null when it has neither.
  L.structured = function (event) {
    if (!event.msgid && !event.sd) return null;
    var node = L.el("span", { class: "structured" });
    if (event.msgid) node.append(L.el("span", { class: "msgid", text: event.msgid }), " ");
    Object.keys(event.sd || {}).forEach(function (id) {
      var params = event.sd[id];
      var text = "[" + [id].concat(Object.keys(params).map(function (name) {
        return name + "=" + JSON.stringify(params[name]);
      })).join(" ") + "]";
      node.append(L.el("span", { class: "sd", "data-sd-id": id, text: text }), " ");
    });
    return node;
  };

  L.severityClass = function (event) {
    return event.severity === null || event.severity === undefined ? "" : "sev-" + event.severity;
  };
})(Logship);
