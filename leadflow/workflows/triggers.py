"""What starts a rule, and the conditions a lead must meet for it to run."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from leadflow.governance.money import Rates, cents_in_base, current_rates
from leadflow.leads.models import Lead

TRIGGERS = {
    "lead_created": "A lead is created",
    "stage_changed": "A lead moves to a stage",
    "score_crossed": "A lead's score rises to a threshold",
    "field_changed": "A field of a lead changes",
    "no_activity_days": "A lead has no activity for some days",
    "task_overdue": "A task on a lead is overdue",
}
TIME_TRIGGERS = ("no_activity_days", "task_overdue")
# Fields a field_changed rule can watch (the names the lead history uses).
WATCHABLE_FIELDS = ("owner", "lifecycle", "temperature", "source", "stage", "value", "tags", "country",
                    "title", "email", "phone", "expected_close_date", "marketing_consent")

CONDITION_FIELDS = {
    "source": "Source", "owner": "Owner", "stage": "Stage", "lifecycle": "Lifecycle",
    "temperature": "Temperature", "score": "Score", "country": "Country", "tags": "Tags", "value": "Value",
}
OPERATORS = {"is": "is", "is_not": "is not", "at_least": "is at least", "at_most": "is at most",
             "contains": "contains", "is_empty": "is empty", "is_set": "is set"}
NUMERIC_FIELDS = ("score", "value")


def lead_value(lead: Lead, field: str, rates: Rates | None = None):
    """The lead's value of a condition field. "value" is in the base currency (``rates``, read
    when not given); a value in a currency without a rate is None: no amount matches it."""
    if field == "owner":
        return None if lead.owner_id is None else str(lead.owner_id)
    if field == "stage":
        return None if lead.stage_id is None else str(lead.stage_id)
    if field == "tags":
        return [t.name_key for t in lead.tags]
    if field == "value":
        cents = cents_in_base(lead.value_cents, lead.currency, rates or current_rates())
        return None if cents is None else Decimal(cents) / 100
    if field == "score":
        return lead.score or 0
    value = getattr(lead, field)
    return None if value in (None, "") else str(value)


def _number(text) -> Decimal | None:
    try:
        number = Decimal(str(text).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def condition_holds(lead: Lead, condition: dict, rates: Rates | None = None) -> bool:
    field, operator, expected = condition["field"], condition["operator"], condition.get("value", "")
    if field == "value" and operator in ("is_empty", "is_set"):  # whether it has one, in any currency
        return (lead.value_cents is None) == (operator == "is_empty")
    if field == "value" and lead.value_cents is None:  # no value: it is not any amount
        return operator == "is_not"
    actual = lead_value(lead, field, rates)
    if operator == "is_empty":
        return actual in (None, [], "")
    if operator == "is_set":
        return actual not in (None, [], "")
    if field == "tags":
        has = str(expected).strip().lower() in actual
        return has if operator in ("is", "contains") else not has
    if field in NUMERIC_FIELDS:
        wanted = _number(expected)
        if actual is None or wanted is None:  # a value in a currency without a rate: no comparison holds
            return False
        actual = Decimal(actual)
        if operator == "at_least":
            return actual >= wanted
        if operator == "at_most":
            return actual <= wanted
        same = actual == wanted
    elif operator in ("at_least", "at_most"):  # only numbers have an order
        return False
    else:
        text = "" if actual is None else str(actual).lower()
        wanted = str(expected).strip().lower()
        if operator == "contains":
            return wanted in text
        same = text == wanted
    return same if operator == "is" else not same


def conditions_hold(lead: Lead, conditions: list[dict], rates: Rates | None = None) -> bool:
    conditions = conditions or []
    if rates is None and any(c.get("field") == "value" for c in conditions):
        rates = current_rates()  # once for every condition on the value
    return all(condition_holds(lead, c, rates) for c in conditions)


def trigger_matches(rule, event: dict) -> bool:
    """Does the event (``{"trigger": ..., plus its data}``) match this rule's trigger settings?"""
    config = rule.trigger_config or {}
    if event["trigger"] != rule.trigger:
        return False
    if rule.trigger == "stage_changed":
        return not config.get("to_stage_id") or int(config["to_stage_id"]) == event.get("to_id")
    if rule.trigger == "score_crossed":
        threshold = int(config.get("threshold", 0))
        return (event.get("old") or 0) < threshold <= (event.get("new") or 0)
    if rule.trigger == "field_changed":
        return config.get("field") in (event.get("fields") or [])
    return True
