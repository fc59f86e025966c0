"""The rule editor's input: a flat HTML form with repeated condition and action rows."""

from __future__ import annotations

from leadflow.workflows.models import WorkflowRule

ACTION_PARAMS = ("user_id", "title", "kind", "due_hours", "assignee", "stage_id", "field", "value", "tag",
                 "template_id", "sequence_id", "message", "url")
CONDITION_PARAMS = ("field", "operator", "value", "owner", "stage")
# Condition fields whose value is an id picked from a list (a <select> per row) instead of typed.
PICKED_CONDITION_FIELDS = ("owner", "stage")


def _rows(form, prefix: str, params: tuple[str, ...], first: str) -> list[dict]:
    columns = {p: form.getlist(f"{prefix}_{p}") for p in params}
    removed = set(form.getlist(f"{prefix}_remove"))
    rows = []
    for index in range(len(columns[first])):
        if str(index) in removed:
            continue
        rows.append({p: (columns[p][index] if index < len(columns[p]) else "") for p in params})
    return rows


def rule_input(form) -> dict:
    """The editor's fields as the service reads them."""
    actions = _rows(form, "action", ("type", *ACTION_PARAMS), "type")
    return {
        "name": form.get("name", ""), "active": form.get("active") == "y", "trigger": form.get("trigger", ""),
        "to_stage_id": form.get("to_stage_id", ""), "threshold": form.get("threshold", ""),
        "field": form.get("field", ""), "days": form.get("days", ""),
        "conditions": [_condition(row) for row in _rows(form, "condition", CONDITION_PARAMS, "field")],
        "actions": actions,
    }


def _condition(row: dict) -> dict:
    """One condition row: an owner or stage condition takes its value from that field's picker."""
    field = row.get("field") or ""
    value = row.get(field) if field in PICKED_CONDITION_FIELDS else row.get("value")
    return {"field": field, "operator": row.get("operator") or "", "value": value or ""}


def blank_rule_input() -> dict:
    return {"name": "", "active": True, "trigger": "lead_created", "to_stage_id": "", "threshold": "",
            "field": "", "days": "", "conditions": [], "actions": [{}]}


def rule_input_from_model(rule: WorkflowRule) -> dict:
    config = rule.trigger_config or {}
    return {"name": rule.name, "active": rule.active, "trigger": rule.trigger,
            "to_stage_id": str(config.get("to_stage_id") or ""), "threshold": str(config.get("threshold") or ""),
            "field": config.get("field") or "", "days": str(config.get("days") or ""),
            "conditions": [dict(c) for c in rule.conditions or []],
            "actions": [{k: str(v) for k, v in a.items()} for a in rule.actions or []]}
