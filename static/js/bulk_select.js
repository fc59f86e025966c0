// Lead list bulk selection: "select all on this page" and a live count (or, when "Apply to"
// is every lead of the list, that). Delegated, so it
// keeps working after htmx swaps the results.
(function () {
  "use strict";
  function update(form) {
    var items = form.querySelectorAll("[data-bulk-item]");
    var ticked = form.querySelectorAll("[data-bulk-item]:checked").length;
    var all = form.querySelector("[data-bulk-all]");
    if (all) {
      all.checked = items.length > 0 && ticked === items.length;
      all.indeterminate = ticked > 0 && ticked < items.length;
    }
    var count = form.querySelector("[data-bulk-count]");
    var everyMatch = form.querySelector("[data-bulk-scope-filter]:checked");
    if (count) count.textContent = everyMatch ? "Every lead of the list is selected." : ticked ? ticked + " selected." : "";
  }
  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("[data-bulk-form]");
    if (!form) return;
    if (event.target.matches("[data-bulk-all]")) {
      form.querySelectorAll("[data-bulk-item]").forEach(function (box) { box.checked = event.target.checked; });
    }
    update(form);
  });
})();
