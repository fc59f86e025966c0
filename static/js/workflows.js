// Workflow rule editor: show only the fields the chosen trigger and each action use.
// Without this script every field shows, labelled with the action it belongs to.
(function () {
  function toggle(scope, attribute, value) {
    scope.querySelectorAll("[" + attribute + "]").forEach(function (el) {
      el.hidden = el.getAttribute(attribute) !== value;
    });
  }
  function refreshAction(row) {
    var select = row.querySelector("select[name=action_type]");
    if (select) toggle(row, "data-for-action", select.value);
  }
  // A condition on owner or stage is picked from a list; any other field is typed.
  function refreshCondition(row) {
    var select = row.querySelector("select[name=condition_field]");
    if (!select) return;
    var picked = select.value === "owner" || select.value === "stage";
    toggle(row, "data-condition-value", picked ? select.value : "other");
  }
  function refreshTrigger(form) {
    var select = form.querySelector("select[name=trigger]");
    if (select) toggle(form, "data-for-trigger", select.value);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("select[name=trigger]") && document.querySelector("select[name=trigger]").form;
    if (!form) return;
    form.querySelectorAll("[data-hide-when-enhanced]").forEach(function (el) { el.hidden = true; });
    form.querySelectorAll("fieldset.action-row").forEach(refreshAction);
    form.querySelectorAll(".condition-row").forEach(refreshCondition);
    refreshTrigger(form);
    form.addEventListener("change", function (event) {
      if (event.target.name === "trigger") refreshTrigger(form);
      if (event.target.name === "condition_field") refreshCondition(event.target.closest(".condition-row"));
      if (event.target.name === "action_type") refreshAction(event.target.closest("fieldset.action-row"));
    });
  });
})();
