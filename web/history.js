// logship page: the history view.
//
// Lists the porter's history jobs (through archie), requests a new one,
// and follows each unfinished job over server-sent events
// (/api/history/ID/events) until it is ready, failed or expired.  A ready
// job's index can be searched: the search view opens on history-<id> over
// the job's range.
"use strict";

(function (L) {
  var FINAL = { ready: true, failed: true, expired: true };
  var state = { started: false, rows: new Map(), streams: new Map() };

  function progressText(job) {
    if (job.state === "queued") return "queued";
    if (job.state === "loading") return "loading " + job.buckets_done + " of " + job.buckets_total + " buckets";
    if (job.state === "ready") return job.buckets_total + " buckets loaded";
    if (job.state === "failed") return job.error || "failed";
    return job.state;
  }

  function show(job) {
    var row = state.rows.get(job.id);
    if (!row) {
      row = {
        tr: L.el("tr", { "data-job": job.id, "data-states": "" }),
        states: [],
      };
      state.rows.set(job.id, row);
      var body = L.$("history-jobs").tBodies[0];
      body.insertBefore(row.tr, body.firstChild);
    }
    if (row.states[row.states.length - 1] !== job.state) row.states.push(job.state);
    row.tr.setAttribute("data-state", job.state);
    row.tr.setAttribute("data-states", row.states.join(" "));
    var progress = L.el("progress", { max: String(Math.max(1, job.buckets_total)), value: String(job.buckets_done) });
    if (job.state === "ready") progress.value = progress.max;
    var action = L.el("td");
    if (job.state === "ready") {
      var button = L.el("button", { type: "button", class: "search-job", text: "Search" });
      button.addEventListener("click", function () {
        location.hash = "#search";
        L.search.searchIndex(job.index, job.from, job.to);
      });
      action.appendChild(button);
      L.search.addIndex(job.index);
    }
    row.tr.replaceChildren(
      L.el("td", { text: job.id }),
      L.el("td", { text: L.shortTime(job.from) + " – " + L.shortTime(job.to) }),
      L.el("td", { class: "state", "data-state": job.state, text: job.state }),
      L.el("td", {}, progress, " ", progressText(job)),
      L.el("td", { class: "events-n", text: String(job.events) }),
      action);
  }

  function follow(job) {
    if (FINAL[job.state] || state.streams.has(job.id) || !window.EventSource) return;
    var source = new EventSource(job.stream || "/api/history/" + encodeURIComponent(job.id) + "/events");
    state.streams.set(job.id, source);
    source.addEventListener("status", function (message) {
      try { show(JSON.parse(message.data)); } catch (e) { /* ignore a bad message */ }
    });
    source.addEventListener("error", function (message) {
      if (message.data) {
        try { L.showError(L.$("history-error"), "job " + job.id + ": " + JSON.parse(message.data).error); } catch (e) { /* ignore */ }
      }
    });
    source.addEventListener("end", function () {
      source.close();
      state.streams.delete(job.id);
    });
  }

  function request(event) {
    event.preventDefault();
    var body = {
      from: L.fromLocalInput(L.$("history-from").value),
      to: L.fromLocalInput(L.$("history-to").value),
    };
    var hours = Number(L.$("history-hours").value);
    if (hours) body.expire_hours = hours;
    L.$("history-go").disabled = true;
    L.api("POST", "/api/history", body).then(function (result) {
      L.$("history-go").disabled = false;
      if (result.status !== 202) {
        L.showError(L.$("history-error"), L.errorText(result));
        return;
      }
      L.showError(L.$("history-error"), null);
      show(result.body);
      follow(result.body);
    }, function (e) {
      L.$("history-go").disabled = false;
      L.showError(L.$("history-error"), "cannot reach archie: " + e);
    });
  }

  function load() {
    L.api("GET", "/api/history").then(function (result) {
      if (result.status !== 200) {
        L.showError(L.$("history-error"), L.errorText(result));
        return;
      }
      result.body.jobs.slice().reverse().forEach(function (job) { show(job); follow(job); });
    });
  }

  function start() {
    if (state.started) return;
    state.started = true;
    var end = new Date();
    L.$("history-from").value = L.toLocalInput(new Date(end.getTime() - 24 * 3600e3));
    L.$("history-to").value = L.toLocalInput(end);
    L.$("history-form").addEventListener("submit", request);
    load();
  }

  L.history = { start: start, load: load };
})(Logship);
