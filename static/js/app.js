// Small progressive enhancements. No inline scripts anywhere (the CSP forbids them).
(function () {
  "use strict";
  // <button data-copy="#target"> copies the target's text to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var target = document.querySelector(button.getAttribute("data-copy"));
    if (!target || !navigator.clipboard) return;
    navigator.clipboard.writeText(target.value || target.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });
  // <form data-confirm="Remove Ada?"> asks before submitting.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);
  // A table wider than a phone scrolls inside itself (app.css); make it reachable with the
  // keyboard so its hidden columns can be scrolled into view (WCAG 2.1.1).
  function focusableScrollers() {
    document.querySelectorAll("main table").forEach(function (table) {
      if (table.scrollWidth > table.clientWidth + 1) {
        if (!table.hasAttribute("tabindex")) table.setAttribute("tabindex", "0");
      } else if (table.getAttribute("tabindex") === "0") {
        table.removeAttribute("tabindex");
      }
    });
  }
  focusableScrollers();
  window.addEventListener("resize", focusableScrollers);
  document.addEventListener("htmx:afterSettle", focusableScrollers);
  // First sign-in: tell the server the browser's time zone (the profile page can change it).
  var zoneUrl = document.body.getAttribute("data-time-zone-url");
  var zone = window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zoneUrl && zone && window.fetch) {
    var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    fetch(zoneUrl, {method: "POST", credentials: "same-origin", headers: headers,
                    body: "detected=1&time_zone=" + encodeURIComponent(zone)});
  }
  // Escape closes an open menu and returns focus to its summary.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      var summary = menu.querySelector("summary");
      if (summary) summary.focus();
    });
  });
})();
