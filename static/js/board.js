// The board: drag cards between and within columns (SortableJS), saved through htmx.
(function () {
  "use strict";
  var dragging = false;

  function cardValues(card, column) {
    var prev = card.previousElementSibling, next = card.nextElementSibling;
    while (prev && !prev.matches(".card")) prev = prev.previousElementSibling;
    while (next && !next.matches(".card")) next = next.nextElementSibling;
    return {
      lead_id: card.dataset.leadId,
      version: card.dataset.version,
      stage_id: column.dataset.stageId,
      above_id: prev ? prev.dataset.leadId : "",
      below_id: next ? next.dataset.leadId : "",
      mode: "drag"
    };
  }

  function initColumn(column) {
    if (column._sortable || typeof Sortable === "undefined") return;
    column._sortable = Sortable.create(column, {
      group: "board",
      draggable: ".card[data-draggable]",
      filter: "select, button, input, label",
      preventOnFilter: false,
      animation: 120,
      forceFallback: true,  // mouse and touch events, not native drag-and-drop: the same on every browser
      fallbackTolerance: 4,
      onStart: function (event) {
        dragging = true;
        event.item._boardOrigin = {column: event.from, next: event.item.nextElementSibling};
      },
      onEnd: function (event) {
        dragging = false;
        var card = event.item, to = event.to;
        if (event.from === to && event.oldIndex === event.newIndex) return;
        htmx.ajax("POST", to.dataset.moveUrl, {
          source: card, target: card, swap: "outerHTML", values: cardValues(card, to)
        });
      }
    });
  }

  function initAll(root) {
    (root.querySelectorAll ? root : document).querySelectorAll(".cards").forEach(initColumn);
  }

  document.addEventListener("DOMContentLoaded", function () { initAll(document); });
  document.addEventListener("htmx:load", function (event) { initAll(event.detail.elt.parentElement || document); });

  // A move that failed (refused, or the server out of reach; app.js shows why): the card goes
  // back where it was dropped from, then the board is fetched again to show it as it really is.
  function moveFailed(event) {
    var card = event.detail.elt, origin = card && card._boardOrigin;
    if (!origin || !card.matches(".card")) return;
    card._boardOrigin = null;
    var next = origin.next && origin.next.parentNode === origin.column ? origin.next : null;
    origin.column.insertBefore(card, next);
    htmx.trigger(document.body, "board-stale");
  }
  document.addEventListener("htmx:responseError", moveFailed);
  document.addEventListener("htmx:sendError", moveFailed);
  document.addEventListener("htmx:timeout", moveFailed);

  // Never reload the board under a card that is being dragged.
  document.addEventListener("htmx:confirm", function (event) {
    if (dragging && event.detail.elt.classList && event.detail.elt.classList.contains("board-poller")) {
      event.preventDefault();
    }
  });

  // The won/lost dialog: opens when the server sends it, closes on cancel or success.
  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = document.getElementById("board-dialog");
    if (dialog && event.detail.target === dialog && !dialog.open) {
      dialog.showModal();
      var first = dialog.querySelector("input:not([type=hidden])");
      if (first) first.focus();
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var dialog = document.getElementById("board-dialog");
    if (!dialog || !dialog.open) return;
    var form = event.detail.elt;
    if (form.closest && form.closest("#board-dialog") && event.detail.successful) {
      dialog.close();
    }
  });
  document.addEventListener("click", function (event) {
    if (!event.target.matches("[data-dialog-cancel]")) return;
    var dialog = document.getElementById("board-dialog");
    dialog.close();
  });
  document.addEventListener("close", function (event) {
    if (event.target.id !== "board-dialog") return;
    event.target.innerHTML = "";
    // The card was dropped where the move did not happen: show the board as it really is.
    htmx.trigger(document.body, "board-stale");
  }, true);
})();
