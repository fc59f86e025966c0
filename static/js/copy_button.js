// Copy buttons: <button data-copy-target="input-id"> copies that field's value and says so.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy-target]");
    if (!button) return;
    var field = document.getElementById(button.getAttribute("data-copy-target"));
    if (!field) return;
    var status = document.getElementById("copy-status");
    function done(message) { if (status) status.textContent = message; }
    field.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(
        function () { done("Copied to the clipboard."); },
        function () { done("Press Ctrl+C (or Cmd+C) to copy the selected token."); });
    } else {
      try { document.execCommand("copy"); done("Copied to the clipboard."); }
      catch (e) { done("Press Ctrl+C (or Cmd+C) to copy the selected token."); }
    }
  });
})();
