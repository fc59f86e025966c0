// Capture form builder: the copy button for the embed snippet (no inline handlers: CSP).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy-target]");
    if (!button) return;
    var field = document.getElementById(button.getAttribute("data-copy-target"));
    var status = document.querySelector("[data-copy-status]");
    function done(message) { if (status) status.textContent = message; }
    field.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () { done("Copied to the clipboard."); },
        function () { done("Press Ctrl+C (or ⌘C) to copy the selected snippet."); });
    } else {
      try { document.execCommand("copy"); done("Copied to the clipboard."); }
      catch (e) { done("Press Ctrl+C (or ⌘C) to copy the selected snippet."); }
    }
  });
})();
