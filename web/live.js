// logship page: the live view ("starting now").
//
// Connects to every buck's live WebSocket listed by /api/bucks, sends the
// filter after the buck's hello, merges the streams, drops an event whose
// id was seen within the last S seconds (two bucks send the same event),
// and shows it.  Each buck reconnects on its own with backoff and jitter.
// Rendering is batched: events wait in a bounded queue and are added once
// per animation frame; the log keeps at most MAX_ROWS rows.  Pause stops
// rendering (the queue keeps the newest MAX_ROWS, the rest are counted).
"use strict";

(function (L) {
  var MAX_ROWS = 2000;
  var BACKOFF_MIN = 500;
  var BACKOFF_MAX = 15000;

  var state = {
    started: false,
    bucks: [],          // Buck objects
    dedupMs: 10000,
    rate: 2000,
    seen: new Map(),    // id -> time first seen (ms)
    seenOrder: [],      // [time, id], oldest first
    seenHead: 0,
    pending: [],        // events waiting for the next frame
    frame: 0,
    paused: false,
    shown: 0,           // events rendered in all
    duplicates: 0,
    droppedPaused: 0,   // events dropped from the queue while paused
    filter: { hosts: [], apps: [], substring: null },
  };

  function now() { return Date.now(); }

  // -- de-duplication ----------------------------------------------------

  function isNew(id) {
    var t = now();
    var order = state.seenOrder;
    while (state.seenHead < order.length && t - order[state.seenHead][0] > state.dedupMs) {
      var old = order[state.seenHead++];
      if (state.seen.get(old[1]) === old[0]) state.seen.delete(old[1]);
    }
    if (state.seenHead > 4096 && state.seenHead * 2 > order.length) {
      state.seenOrder = order.slice(state.seenHead);
      state.seenHead = 0;
    }
    if (id === undefined || id === null) return true;
    if (state.seen.has(id)) return false;
    state.seen.set(id, t);
    state.seenOrder.push([t, id]);
    return true;
  }

  // -- one buck ------------------------------------------------------------

  function Buck(name, url) {
    this.name = name;
    this.url = url;
    this.state = "connecting";
    this.node = null;
    this.received = 0;
    this.skipped = 0;
    this.duplicates = 0;
    this.attempts = 0;
    this.retryAt = 0;
    this.error = null;
    this.ws = null;
    this.timer = 0;
    this.item = L.el("li", { "data-buck": name, "data-state": "connecting" });
    L.$("live-bucks").appendChild(this.item);
    this.connect();
  }

  Buck.prototype.setState = function (s, why) {
    this.state = s;
    if (why !== undefined) this.error = why;
    this.show();
  };

  Buck.prototype.show = function () {
    var text = this.name + (this.node ? " (" + this.node + ")" : "") + ": " + this.state;
    if (this.state === "closed" && this.retryAt) {
      text += ", retry in " + Math.max(0, Math.round((this.retryAt - now()) / 1000)) + " s";
    }
    text += " · " + this.received + " received";
    if (this.duplicates) text += ", " + this.duplicates + " duplicates";
    if (this.skipped) text += ", " + this.skipped + " skipped by the buck";
    if (this.error && this.state !== "open") text += " · " + this.error;
    this.item.textContent = text;
    this.item.setAttribute("data-state", this.state);
    this.item.setAttribute("data-received", String(this.received));
    this.item.setAttribute("data-duplicates", String(this.duplicates));
  };

  Buck.prototype.connect = function () {
    var self = this;
    this.timer = 0;
    this.retryAt = 0;
    this.setState("connecting");
    var ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.setState("error", String(e));
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onmessage = function (message) { self.receive(message.data); };
    ws.onerror = function () { self.error = "connection failed"; };
    ws.onclose = function (event) {
      if (self.ws !== ws) return;
      self.ws = null;
      if (event.code !== 1000 && event.reason) self.error = event.reason;
      self.retry();
    };
  };

  Buck.prototype.retry = function () {
    var self = this;
    var delay = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, this.attempts));
    delay = delay * (0.5 + Math.random() / 2);
    this.attempts++;
    this.retryAt = now() + delay;
    this.setState("closed");
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.connect(); }, delay);
  };

  Buck.prototype.sendFilter = function () {
    if (!this.ws || this.ws.readyState !== 1) return;
    this.ws.send(JSON.stringify({
      type: "filter",
      hosts: state.filter.hosts,
      apps: state.filter.apps,
      substring: state.filter.substring,
      rate: state.rate,
    }));
  };

  Buck.prototype.receive = function (data) {
    var message;
    try { message = JSON.parse(data); } catch (e) { return; }
    if (message.type === "hello") {
      this.node = message.node || null;
      this.attempts = 0;
      this.error = null;
      this.setState("open");
      this.sendFilter();
    } else if (message.type === "events" && Array.isArray(message.events)) {
      this.received += message.events.length;
      accept(message.events, this);
      this.show();
    } else if (message.type === "skipped") {
      this.skipped += Number(message.count) || 0;
      this.show();
    } else if (message.type === "error") {
      this.error = String(message.error);
      this.show();
    }
  };

  // -- merging and rendering ---------------------------------------------

  function accept(events, buck) {
    for (var i = 0; i < events.length; i++) {
      var event = events[i];
      if (!isNew(event.id)) {
        state.duplicates++;
        if (buck) buck.duplicates++;
        continue;
      }
      state.pending.push(event);
    }
    if (state.pending.length > 2 * MAX_ROWS) {
      var drop = state.pending.length - MAX_ROWS;
      if (state.paused) state.droppedPaused += drop;
      state.pending = state.pending.slice(drop);
    }
    schedule();
  }

  function schedule() {
    if (!state.paused && !state.frame && state.pending.length) {
      state.frame = requestAnimationFrame(render);
    }
  }

  function row(event) {
    var pid = event.pid ? "[" + event.pid + "]" : "";
    return L.el("div", { class: "row " + L.severityClass(event), "data-id": event.id },
      L.el("time", { text: L.shortTime(event.time) }), " ",
      L.el("span", { class: "host", text: event.host }), " ",
      L.el("span", { class: "app", text: event.app + pid }), ": ",
      L.el("span", { class: "msg" }, L.structured(event), event.message));
  }

  function render() {
    state.frame = 0;
    if (state.paused) return;
    var log = L.$("live-log");
    var follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 40;
    var batch = state.pending;
    state.pending = [];
    if (batch.length > MAX_ROWS) batch = batch.slice(batch.length - MAX_ROWS);
    var fragment = document.createDocumentFragment();
    for (var i = 0; i < batch.length; i++) fragment.appendChild(row(batch[i]));
    state.shown += batch.length;
    if (batch.length >= MAX_ROWS) {
      log.replaceChildren(fragment);
    } else {
      log.appendChild(fragment);
      var extra = log.childElementCount - MAX_ROWS;
      while (extra-- > 0) log.removeChild(log.firstChild);
    }
    if (follow) log.scrollTop = log.scrollHeight;
    counts();
  }

  function counts() {
    var text = state.shown + " shown, " + state.duplicates + " duplicates dropped";
    if (state.paused) text += " · paused, " + state.pending.length + " waiting";
    if (state.droppedPaused) text += ", " + state.droppedPaused + " dropped while paused";
    L.$("live-counts").textContent = text;
  }

  // -- controls ------------------------------------------------------------

  function names(text) {
    return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function applyFilter(event) {
    if (event) event.preventDefault();
    state.filter = {
      hosts: names(L.$("live-host").value),
      apps: names(L.$("live-app").value),
      substring: L.$("live-substring").value || null,
    };
    state.bucks.forEach(function (b) { b.sendFilter(); });
  }

  function togglePause() {
    state.paused = !state.paused;
    var button = L.$("live-pause");
    button.textContent = state.paused ? "Resume" : "Pause";
    button.classList.toggle("on", state.paused);
    counts();
    schedule();
  }

  function clear() {
    L.$("live-log").replaceChildren();
    state.pending = [];
    counts();
  }

  function start() {
    if (state.started) return;
    state.started = true;
    L.$("live-form").addEventListener("submit", applyFilter);
    L.$("live-pause").addEventListener("click", togglePause);
    L.$("live-clear").addEventListener("click", clear);
    setInterval(function () { state.bucks.forEach(function (b) { if (b.state === "closed") b.show(); }); }, 1000);
    L.api("GET", "/api/bucks").then(function (result) {
      if (result.status !== 200) {
        L.$("live-counts").textContent = "cannot list the bucks: " + L.errorText(result);
        return;
      }
      state.dedupMs = (result.body.dedup_seconds || 10) * 1000;
      state.rate = result.body.rate || 2000;
      if (!result.body.bucks.length) {
        L.$("live-counts").textContent = "no bucks configured (archie --live ws://HOST:PORT/live)";
      }
      result.body.bucks.forEach(function (b) { state.bucks.push(new Buck(b.name, b.url)); });
      counts();
    }, function (e) {
      L.$("live-counts").textContent = "cannot reach archie: " + e;
    });
  }

  L.live = {
    start: start,
    // For tests and benchmarks: feed events as if a buck had sent them.
    inject: function (events) { accept(events, null); },
    stats: function () {
      return {
        shown: state.shown,
        duplicates: state.duplicates,
        pending: state.pending.length,
        rows: L.$("live-log").childElementCount,
        paused: state.paused,
        bucks: state.bucks.map(function (b) {
          return { name: b.name, state: b.state, received: b.received, duplicates: b.duplicates, skipped: b.skipped };
        }),
      };
    },
    MAX_ROWS: MAX_ROWS,
  };
})(Logship);
