// logship page: the views by the address's #fragment (#live, #search, #history).
// Each view starts the first time it is shown; the live view keeps its
// connections while another view is shown.
"use strict";

(function (L) {
  var VIEWS = ["live", "search", "history"];

  function route() {
    var name = (location.hash || "#live").slice(1);
    if (VIEWS.indexOf(name) < 0) name = "live";
    VIEWS.forEach(function (v) {
      L.$("view-" + v).hidden = v !== name;
      L.$("nav-" + v).classList.toggle("active", v === name);
    });
    document.body.setAttribute("data-view", name);
    L[name].start();
  }

  window.addEventListener("hashchange", route);
  route();
})(Logship);
