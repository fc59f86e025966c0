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
  // Inline editors focus their field through the autofocus attribute. The browser may honour it
  // itself on its next frame, before htmx has wired the new form: htmx therefore settles swapped
  // content at once (defaultSettleDelay 0 in base.html), so that no key pressed in a field that
  // has just opened can submit its form natively (a full page post instead of the htmx request).
  // Confirm dangerous submits: forms marked data-confirm ask first.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  }, true);

  // htmx keeps its history state in the browser's storage. History snapshots are off
  // (historyCacheSize 0 in base.html), and on sign-out every htmx key goes, so no page
  // of leads stays behind on a shared computer.
  function forgetHtmxHistory() {
    [window.sessionStorage, window.localStorage].forEach(function (store) {
      try {
        for (var i = store.length - 1; i >= 0; i--) {
          var key = store.key(i);
          if (key && key.indexOf("htmx-") === 0) store.removeItem(key);
        }
      } catch (error) { /* storage disabled: nothing kept to forget */ }
    });
  }
  document.addEventListener("submit", function (event) {
    if (!event.defaultPrevented && event.target.matches && event.target.matches("[data-sign-out]")) forgetHtmxHistory();
  });
  // A refused or lost htmx request never fails silently: its message goes to the flash area.
  // The server's own words when it sent short text, JSON {"message"} or a page with an error
  // flash; a generic line otherwise.
  var GENERIC_ERROR = "Something went wrong — nothing was saved. Try again.";
  var OFFLINE_ERROR = "Could not reach LeadFlow — check your connection.";

  function serverMessage(xhr) {
    var type = (xhr.getResponseHeader("Content-Type") || "").split(";")[0].trim();
    var body = xhr.responseText || "", text = "";
    try {
      if (type === "application/json") text = JSON.parse(body).message || "";
      else if (type === "text/plain") text = body;
      else if (type === "text/html") {
        var flash = new DOMParser().parseFromString(body, "text/html").querySelector(".flash-error");
        text = flash ? flash.textContent : "";
      }
    } catch (error) { text = ""; }
    text = typeof text === "string" ? text.trim() : "";
    return text && text.length <= 300 ? text : GENERIC_ERROR;
  }

  function showError(text) {
    var area = document.getElementById("flash-area");
    if (!area) return;
    var note = area.querySelector("[data-request-error]") || document.createElement("div");
    note.className = "flash flash-error";
    note.setAttribute("role", "alert");
    note.setAttribute("data-request-error", "");
    note.textContent = text;
    area.prepend(note);
  }

  document.addEventListener("htmx:responseError", function (event) { showError(serverMessage(event.detail.xhr)); });
  document.addEventListener("htmx:sendError", function () { showError(OFFLINE_ERROR); });
  document.addEventListener("htmx:timeout", function () { showError(OFFLINE_ERROR); });

  // Signed out elsewhere (another tab, an expired session): the first signed-out page forgets too.
  if (document.body && document.body.hasAttribute("data-signed-out")) forgetHtmxHistory();
})();
