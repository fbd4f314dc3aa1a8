// logship page: the search view (recent and history indexes).
//
// A search resolves its time range once (presets are relative to now),
// then asks /api/search for a page, /api/histogram for the matches over
// time and /api/facets for the hosts and apps of the range.  Paging
// follows the API's cursors (a stack of them, for "newer").  Clicking a
// facet adds or removes that host or app; clicking a histogram bar zooms
// into its slot.
"use strict";

(function (L) {
  var PAGE = 100;
  var state = {
    started: false,
    range: null,       // {from, to} ISO, resolved
    cursors: [null],   // cursor of each page seen
    page: 0,
    hosts: new Set(),
    apps: new Set(),
    histogram: null,
    serial: 0,         // answers to an older page are dropped
    searches: 0,       // answers to an older search are dropped
    ranges: 0,         // facets of an older range are dropped
  };

  function resolveRange() {
    var choice = L.$("search-range").value;
    if (choice === "custom") {
      return { from: L.fromLocalInput(L.$("search-from").value), to: L.fromLocalInput(L.$("search-to").value) };
    }
    var end = new Date();
    var start = new Date(end.getTime() - L.relativeMs(choice));
    return { from: start.toISOString(), to: end.toISOString() };
  }

  function filters() {
    return {
      q: L.$("search-q").value.trim(),
      from: state.range.from,
      to: state.range.to,
      host: Array.from(state.hosts),
      app: Array.from(state.apps),
      index: L.$("search-index").value,
    };
  }

  // A new search: from the form (range resolved again).
  function run(event) {
    if (event) event.preventDefault();
    state.searches++;
    state.ranges++;
    state.range = resolveRange();
    state.cursors = [null];
    state.page = 0;
    fetchPage();
    fetchHistogram();
    fetchFacets();
  }

  // The same search with other facets: keep the resolved range.
  function refine() {
    state.searches++;
    state.cursors = [null];
    state.page = 0;
    fetchPage();
    fetchHistogram();
  }

  function fetchPage() {
    var serial = ++state.serial;
    var params = filters();
    params.limit = PAGE;
    params.cursor = state.cursors[state.page];
    var count = L.$("search-count");
    count.textContent = "searching…";
    count.removeAttribute("data-total");
    L.api("GET", "/api/search?" + L.query(params)).then(function (result) {
      if (serial !== state.serial) return;
      if (result.status !== 200) {
        L.showError(L.$("search-error"), L.errorText(result));
        count.textContent = "";
        renderRows([]);
        return;
      }
      L.showError(L.$("search-error"), null);
      var body = result.body;
      state.cursors.length = state.page + 1;
      if (body.next) state.cursors.push(body.next);
      count.textContent = body.total + (body.total === 1 ? " match" : " matches");
      count.setAttribute("data-total", String(body.total));
      var first = state.page * PAGE + 1;
      L.$("search-page").textContent = body.events.length
        ? first + "–" + (first + body.events.length - 1) : "";
      L.$("search-newer").disabled = state.page === 0;
      L.$("search-older").disabled = !body.next;
      renderRows(body.events);
    }, function (e) {
      L.showError(L.$("search-error"), "cannot reach archie: " + e);
    });
  }

  function renderRows(events) {
    var body = L.$("search-results").tBodies[0];
    var fragment = document.createDocumentFragment();
    events.forEach(function (e) {
      var pid = e.pid ? "[" + e.pid + "]" : "";
      fragment.appendChild(L.el("tr", { class: L.severityClass(e), "data-id": e.id },
        L.el("td", { class: "time", text: L.shortTime(e.time) }),
        L.el("td", { class: "host", text: e.host }),
        L.el("td", { class: "app", text: e.app + pid }),
        L.el("td", { class: "message" }, L.structured(e), e.message)));
    });
    body.replaceChildren(fragment);
    L.$("search-results").scrollTop = 0;
  }

  // -- histogram -----------------------------------------------------------

  function fetchHistogram() {
    var search = state.searches;
    var params = filters();
    params.slots = 60;
    L.api("GET", "/api/histogram?" + L.query(params)).then(function (result) {
      if (search !== state.searches) return;
      state.histogram = result.status === 200 ? result.body : null;
      drawHistogram(-1);
    });
  }

  function drawHistogram(hover) {
    var canvas = L.$("histogram");
    var width = canvas.clientWidth || 600;
    var ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(90 * ratio);
    var g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, 90);
    var h = state.histogram;
    var label = L.$("histogram-label");
    if (!h) {
      label.textContent = "";
      canvas.removeAttribute("data-total");
      return;
    }
    canvas.setAttribute("data-total", String(h.total));
    var counts = h.counts;
    var max = Math.max.apply(null, counts.concat([1]));
    var bar = width / counts.length;
    for (var i = 0; i < counts.length; i++) {
      var height = counts[i] ? Math.max(2, (counts[i] / max) * 80) : 0;
      g.fillStyle = i === hover ? "#e67e22" : "#2a6fdb";
      g.fillRect(i * bar + 1, 88 - height, Math.max(1, bar - 2), height);
    }
    if (hover >= 0) {
      label.textContent = L.shortTime(slotTime(hover)) + " + " + h.slot_seconds + " s: " +
        counts[hover] + " matches (click to zoom)";
    } else {
      label.textContent = h.total + " matches from " + L.shortTime(h.from) + " to " +
        L.shortTime(h.to) + ", " + h.slot_seconds + " s per bar";
    }
  }

  function slotTime(i) {
    var h = state.histogram;
    var ms = Date.parse(h.first) + i * h.slot_seconds * 1000;
    return new Date(ms).toISOString();
  }

  function slotAt(event) {
    var h = state.histogram;
    if (!h) return -1;
    var canvas = L.$("histogram");
    var x = event.clientX - canvas.getBoundingClientRect().left;
    var i = Math.floor(x / (canvas.clientWidth / h.counts.length));
    return i >= 0 && i < h.counts.length ? i : -1;
  }

  function zoom(event) {
    var i = slotAt(event);
    if (i < 0) return;
    var h = state.histogram;
    var start = Math.max(Date.parse(slotTime(i)), Date.parse(h.from));
    var end = Math.min(start + h.slot_seconds * 1000, Date.parse(h.to));
    setCustomRange(new Date(start), new Date(end));
    run();
  }

  function setCustomRange(from, to) {
    L.$("search-range").value = "custom";
    L.$("search-custom").hidden = false;
    L.$("search-from").value = L.toLocalInput(from);
    L.$("search-to").value = L.toLocalInput(new Date(Math.ceil(to.getTime() / 1000) * 1000));
  }

  // -- facets --------------------------------------------------------------

  function fetchFacets() {
    var ranges = state.ranges;
    var params = { from: state.range.from, to: state.range.to, index: L.$("search-index").value };
    L.api("GET", "/api/facets?" + L.query(params)).then(function (result) {
      if (result.status !== 200 || ranges !== state.ranges) return;
      renderFacet("facet-hosts", result.body.hosts, state.hosts);
      renderFacet("facet-apps", result.body.apps, state.apps);
      L.$("facet-note").textContent = result.body.complete ? "" : "counts of names seen in a sample of the range";
    });
  }

  function renderFacet(id, entries, selected) {
    var list = L.$(id);
    var names = new Set(entries.map(function (e) { return e.name; }));
    selected.forEach(function (n) { if (!names.has(n)) entries.push({ name: n, count: 0 }); });
    var fragment = document.createDocumentFragment();
    entries.forEach(function (entry) {
      var item = L.el("li", { "data-name": entry.name, class: selected.has(entry.name) ? "selected" : "" },
        L.el("span", { text: entry.name }), L.el("span", { class: "n", text: String(entry.count) }));
      item.addEventListener("click", function () {
        if (selected.has(entry.name)) selected.delete(entry.name); else selected.add(entry.name);
        item.classList.toggle("selected", selected.has(entry.name));
        refine();
      });
      fragment.appendChild(item);
    });
    list.replaceChildren(fragment);
  }

  // -- set up --------------------------------------------------------------

  function start() {
    if (state.started) return;
    state.started = true;
    var end = new Date();
    if (!L.$("search-from").value) L.$("search-from").value = L.toLocalInput(new Date(end.getTime() - 3600e3));
    if (!L.$("search-to").value) L.$("search-to").value = L.toLocalInput(end);
    L.$("search-form").addEventListener("submit", run);
    L.$("search-range").addEventListener("change", function () {
      L.$("search-custom").hidden = L.$("search-range").value !== "custom";
    });
    L.$("search-older").addEventListener("click", function () {
      if (state.cursors.length > state.page + 1) { state.page++; fetchPage(); }
    });
    L.$("search-newer").addEventListener("click", function () {
      if (state.page > 0) { state.page--; fetchPage(); }
    });
    var canvas = L.$("histogram");
    canvas.addEventListener("mousemove", function (e) { drawHistogram(slotAt(e)); });
    canvas.addEventListener("mouseleave", function () { drawHistogram(-1); });
    canvas.addEventListener("click", zoom);
    window.addEventListener("resize", function () { drawHistogram(-1); });
    run();
  }

  L.search = {
    start: start,
    // Search a history index over its range (from the history view).
    searchIndex: function (index, from, to) {
      var select = L.$("search-index");
      if (!Array.prototype.some.call(select.options, function (o) { return o.value === index; })) {
        select.appendChild(L.el("option", { value: index, text: index }));
      }
      select.value = index;
      setCustomRange(new Date(from), new Date(to));
      state.hosts.clear();
      state.apps.clear();
      if (state.started) run();
    },
    addIndex: function (index) {
      var select = L.$("search-index");
      if (!Array.prototype.some.call(select.options, function (o) { return o.value === index; })) {
        select.appendChild(L.el("option", { value: index, text: index }));
      }
    },
  };
})(Logship);
