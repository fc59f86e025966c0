// LeadFlow's own script: small progressive enhancements, no inline handlers (CSP).
(function () {
  "use strict";
  // Escape closes an inline editor: the cancel link inside it is followed.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var editor = event.target.closest && event.target.closest("[data-inline-editor]");
    if (!editor) return;
    var cancel = editor.querySelector("[data-cancel]");
    if (cancel) { event.preventDefault(); cancel.click(); }
  });
  // Inline editors focus their field through the autofocus attribute, which htmx honours on swap.
  // Confirm dangerous submits: forms marked data-confirm ask first.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  }, true);
})();
