// Members pages: htmx niceties. Without JavaScript every form and link still works.
(function () {
  "use strict";
  // Buttons marked .js-hide are for no-JS visitors (e.g. "Save" beside an auto-saving select).
  document.documentElement.classList.add("js");
  // A refused inline edit answers 4xx with the row and its message: show it instead of dropping it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (status >= 400 && status < 500 && elt && elt.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
