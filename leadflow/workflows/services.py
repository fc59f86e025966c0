"""The workflow engine and the rule editor's services.

``run_rules(event, lead)`` finds the active rules whose trigger matches, checks their
conditions and runs their actions in order, each rule in a savepoint, writing one
``WorkflowRun`` per rule. Loop protection: a contextvar holds the ids of the rules running
now; a rule that is already running is refused (it never triggers itself) and so is a
chain deeper than ``MAX_DEPTH``. Both refusals are written to the run log.
"""

from __future__ import annotations

import logging
import secrets
from contextvars import ContextVar
from dataclasses import dataclass

from leadflow.errors import PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.web import refcache
from leadflow.workflows import actions as action_types
from leadflow.workflows.models import WorkflowRule, WorkflowRun
from leadflow.workflows.triggers import (
    CONDITION_FIELDS, OPERATORS, TRIGGERS, WATCHABLE_FIELDS, conditions_hold, trigger_matches,
)

log = logging.getLogger(__name__)

MAX_DEPTH = 3
MAX_CONDITIONS = 20
MAX_ACTIONS = 20
_RUNNING: ContextVar[tuple[int, ...]] = ContextVar("workflow_rules_running", default=())


def _record(rule: WorkflowRule, lead: Lead, trigger: str, outcome: str, results=None, error=None) -> WorkflowRun:
    run = WorkflowRun(rule_id=rule.id, lead_id=lead.id, trigger=trigger, outcome=outcome,
                      results=results or [], error=error)
    db.session.add(run)
    db.session.flush()
    return run


def run_rule(rule: WorkflowRule, lead: Lead, event: dict) -> WorkflowRun:
    """Run one rule for one lead (its trigger already matched); returns the run log row."""
    running = _RUNNING.get()
    trigger = event["trigger"]
    if rule.id in running:
        return _record(rule, lead, trigger, "refused", error="Refused: this rule's own action would start it again.")
    if len(running) >= MAX_DEPTH:
        return _record(rule, lead, trigger, "refused",
                       error=f"Refused: a chain of more than {MAX_DEPTH} rules starting one another.")
    if not conditions_hold(lead, rule.conditions):
        return _record(rule, lead, trigger, "skipped")
    run = _record(rule, lead, trigger, "done")
    results: list[dict] = []
    token = _RUNNING.set((*running, rule.id))
    try:
        for index, action in enumerate(rule.actions or []):
            try:
                with db.session.begin_nested():
                    outcome = action_types.run_action(rule, run, lead, action, index, event)
                results.append({"action": action["type"], "ok": True, "result": outcome})
            except Exception as exc:  # the run log says what failed; later actions do not run
                log.warning("Workflow rule %s action %s failed for lead %s: %s", rule.id, action["type"], lead.id,
                            type(exc).__name__)
                message = str(exc) or type(exc).__name__
                results.append({"action": action["type"], "ok": False, "result": message[:500]})
                run.outcome, run.error = "failed", f"Action {index + 1} ({action['type']}) failed: {message}"[:2000]
                break
    finally:
        _RUNNING.reset(token)
    run.results = results
    db.session.flush()
    return run


@dataclass(frozen=True)
class Listener:
    """What an active rule listens to, kept for the process (``trigger_matches`` reads it)."""
    id: int
    trigger: str
    trigger_config: dict  # never changed by its readers


def listening_rules(event: dict) -> list[WorkflowRule]:
    """The active rules whose trigger matches ``event``, in the order they run. Which rules
    listen to what is kept for the process (``refcache``): an event no rule listens to (most
    moves and changes) reads no rule."""
    ids = [listener.id for listener in refcache.cached(("workflow_rules",), "workflow listeners", _listeners)
           if trigger_matches(listener, event)]
    if not ids:
        return []
    return list(db.session.scalars(db.select(WorkflowRule).where(
        WorkflowRule.id.in_(ids), WorkflowRule.active.is_(True)).order_by(WorkflowRule.id)))


def _listeners() -> tuple[Listener, ...]:
    return tuple(Listener(rule_id, trigger, dict(config or {})) for rule_id, trigger, config in db.session.execute(
        db.select(WorkflowRule.id, WorkflowRule.trigger, WorkflowRule.trigger_config)
        .where(WorkflowRule.active.is_(True)).order_by(WorkflowRule.id)))


def run_rules(event: dict, lead: Lead, rules: list[WorkflowRule] | None = None) -> list[WorkflowRun]:
    """Run every active rule whose trigger matches ``event`` (``{"trigger": ..., data}``);
    ``rules``: those ``listening_rules`` read once for a batch of leads."""
    if lead.deleted_at is not None:
        return []
    rules = listening_rules(event) if rules is None else rules
    return [run_rule(rule, lead, event) for rule in rules if trigger_matches(rule, event)]


# --- the editor ---------------------------------------------------------------------------

def _require_admin(actor) -> None:
    if actor is None or not getattr(actor, "is_admin", False):
        raise PermissionDenied("Only admins can change workflow rules.")


def clean_rule_input(values: dict) -> dict:
    """Check the editor's input; returns the model values or raises ValidationFailed."""
    errors: dict[str, list[str]] = {}
    out: dict = {}
    name = " ".join(str(values.get("name") or "").split())
    if not name:
        errors["name"] = ["Give the rule a name."]
    elif len(name) > 120:
        errors["name"] = ["Use at most 120 characters."]
    out["name"] = name
    out["active"] = bool(values.get("active"))
    trigger = values.get("trigger")
    config: dict = {}
    if trigger not in TRIGGERS:
        errors["trigger"] = ["Choose what starts the rule."]
    elif trigger == "stage_changed" and values.get("to_stage_id"):
        try:
            config["to_stage_id"] = action_types.clean_action({"type": "move_stage", "stage_id": values["to_stage_id"]})["stage_id"]
        except ValueError as exc:
            errors["to_stage_id"] = [str(exc)]
    elif trigger == "score_crossed":
        config["threshold"] = _whole(values.get("threshold"), 1, 1000, "threshold", errors,
                                     "Enter the score threshold as a whole number from 1 to 1000.")
    elif trigger == "field_changed":
        if values.get("field") not in WATCHABLE_FIELDS:
            errors["field"] = ["Choose the field to watch."]
        config["field"] = values.get("field")
    elif trigger == "no_activity_days":
        config["days"] = _whole(values.get("days"), 1, 365, "days", errors,
                                "Enter the number of days as a whole number from 1 to 365.")
    out["trigger"], out["trigger_config"] = trigger, config
    conditions = []
    rows = values.get("conditions") or []
    if len(rows) > MAX_CONDITIONS:
        errors["conditions"] = [f"Use at most {MAX_CONDITIONS} conditions."]
    for number, row in enumerate(rows[:MAX_CONDITIONS], 1):
        if not row.get("field"):
            continue
        condition = {"field": row["field"], "operator": row.get("operator"),
                     "value": " ".join(str(row.get("value") or "").split())[:200]}
        problem = _condition_problem(condition)
        if problem:
            errors.setdefault("conditions", []).append(f"Condition {number}: {problem}")
        conditions.append(condition)
    out["conditions"] = conditions
    cleaned_actions = []
    rows = [row for row in values.get("actions") or [] if row.get("type")]
    if not rows:
        errors["actions"] = ["Add at least one action."]
    if len(rows) > MAX_ACTIONS:
        errors["actions"] = [f"Use at most {MAX_ACTIONS} actions."]
    for number, row in enumerate(rows[:MAX_ACTIONS], 1):
        try:
            cleaned_actions.append(action_types.clean_action(row))
        except ValueError as exc:
            errors.setdefault("actions", []).append(f"Action {number}: {exc}")
    out["actions"] = cleaned_actions
    if errors:
        raise ValidationFailed(errors)
    return out


def _whole(raw, low: int, high: int, key: str, errors: dict, message: str) -> int | None:
    try:
        number = int(str(raw).strip())
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        errors[key] = [message]
    return number


def _condition_problem(row: dict) -> str | None:
    """What is wrong with one condition, or None. An owner condition on “Unassigned” is stored
    as “owner is empty” (or “is set” for “is not Unassigned”); ``row`` is changed to that."""
    if row["field"] not in CONDITION_FIELDS:
        return "choose a field from the list."
    operator = row.get("operator")
    if operator not in OPERATORS:
        return "choose how to compare."
    value = str(row.get("value") or "").strip()
    if operator in ("is_empty", "is_set"):
        row["value"] = ""
        return None
    if row["field"] in PICKED_FIELDS:
        return _picked_problem(row, operator, value)
    if not value:
        return "enter the value to compare with."
    if operator in ("at_least", "at_most") or row["field"] in ("score", "value"):
        try:
            float(value)
        except ValueError:
            return "enter a number."
    return None


# Condition fields compared by the id of a record chosen from a list: is / is not only.
PICKED_FIELDS = ("owner", "stage")
UNASSIGNED = "none"


def _picked_problem(row: dict, operator: str, value: str) -> str | None:
    if operator not in ("is", "is_not", "is_empty", "is_set"):
        return f"{CONDITION_FIELDS[row['field']].lower()} can only be compared with “is”, “is not”, “is empty” or “is set”."
    if row["field"] == "owner" and value == UNASSIGNED:
        row["operator"], row["value"] = ("is_empty" if operator == "is" else "is_set"), ""
        return None
    check = ({"type": "assign", "user_id": value} if row["field"] == "owner"
             else {"type": "move_stage", "stage_id": value})
    if not value:
        return "choose the owner from the list." if row["field"] == "owner" else "choose the stage from the list."
    try:
        cleaned = action_types.clean_action(check)
    except ValueError:
        return ("that owner is not an active user who can own leads: choose one from the list."
                if row["field"] == "owner" else "that stage does not exist: choose one from the list.")
    row["value"] = str(cleaned["user_id"] if row["field"] == "owner" else cleaned["stage_id"])
    return None


def create_rule(actor, values: dict) -> WorkflowRule:
    _require_admin(actor)
    rule = WorkflowRule(secret=secrets.token_hex(32), created_by_id=actor.id, **clean_rule_input(values))
    db.session.add(rule)
    db.session.flush()
    return rule


def update_rule(actor, rule: WorkflowRule, values: dict) -> WorkflowRule:
    _require_admin(actor)
    for key, value in clean_rule_input(values).items():
        setattr(rule, key, value)
    db.session.flush()
    return rule


def set_rule_active(actor, rule: WorkflowRule, active: bool) -> None:
    _require_admin(actor)
    rule.active = active
    db.session.flush()


def delete_rule(actor, rule: WorkflowRule) -> None:
    _require_admin(actor)
    db.session.delete(rule)
    db.session.flush()
