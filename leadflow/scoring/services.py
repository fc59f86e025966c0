"""Lead scoring: the rules' arithmetic, storing a lead's score, and the rules admin.

``compute_score`` is pure (a lead, its activities, the rules, the time): it is what the
tests check the arithmetic on. ``rescore_leads`` loads what it needs in one query per
batch (the activities of every lead in it) and writes only the leads whose score,
breakdown, temperature or lifecycle changed, with one UPDATE each that does not bump the
lead's version (an open editor must not see a conflict because a call was logged).

Scoring does nothing while no rule is active: temperatures set by hand stay as they are.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from leadflow.accounts.system import system_actor
from leadflow.activities.models import ACTIVITY_KINDS, Activity, kind_label
from leadflow.db import utcnow
from leadflow.errors import PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.governance.audit import record_changes, record_changes_many, record_event
from leadflow.governance.money import Rates, base_currency, cents_in_base, current_rates
from leadflow.governance.models import Setting
from leadflow.governance.ordering import move_in_order
from leadflow.governance.settings import write_setting
from leadflow.leads import events, store
from leadflow.leads.events import Arrivals, Bus, load_leads
from leadflow.leads.models import LIFECYCLE_LABELS, Lead
from leadflow.web import refcache
from leadflow.web.formatting import money
from leadflow.scoring.models import (
    CATEGORIES, FIELD_LABELS, FIELDS, NUMERIC_OPERATORS, OPERATOR_LABELS, OPERATORS, ScoringRule,
)

# Rows the app writes about a lead, not something the lead did or anyone did with it.
BOOKKEEPING_KINDS = ("stage_change", "assignment", "system", "merge", "score_change",
                     "task_completed", "task_reopened")
ENGAGEMENT_KINDS = tuple(k for k in ACTIVITY_KINDS if k not in BOOKKEEPING_KINDS)

SETTINGS_KEY = "scoring"
STALE_SINCE_KEY = "scoring_changed_at"  # when rules or thresholds last changed
DEFAULT_SETTINGS = {
    "warm_at": 30, "hot_at": 60,  # temperature thresholds
    "lifecycle_auto": True, "mql_at": 40, "sql_at": 70,  # lead → MQL → SQL, forward only
    "half_life_days": 0,  # engagement points halve every N days; 0 = no decay
}
SETTING_BOUNDS = {
    "warm_at": (1, 10000), "hot_at": (1, 10000), "mql_at": (1, 10000), "sql_at": (1, 10000),
    "half_life_days": (0, 3650),
}
# Lifecycles scoring may move forward from, and the order they go in.
AUTO_LIFECYCLE_ORDER = ("subscriber", "lead", "mql", "sql")

SCORING = system_actor("Scoring")  # who the audit log says changed a lead's temperature or lifecycle


def can_manage_scoring(actor) -> bool:
    return getattr(actor, "role", None) == "admin"


def _require_admin(actor) -> None:
    if not can_manage_scoring(actor):
        raise PermissionDenied("Only admins can change scoring rules.")


# --- the arithmetic --------------------------------------------------------------------

@dataclass(frozen=True)
class ActivityFact:
    """What scoring needs of a timeline entry."""

    kind: str
    occurred_at: datetime
    text: str = ""  # subject and details, lower-cased


def activity_text(subject: str | None, details) -> str:
    parts = [subject or ""]
    if isinstance(details, dict):
        parts.extend(str(v) for v in details.values() if v is not None)
    elif details:
        parts.append(str(details))
    return " ".join(parts).lower()


def _number(value) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def lead_field_value(lead: Lead, rule: ScoringRule, rates: Rates | None = None):
    """The lead's value of the rule's field: a string, a number, a list (tags) or None. A deal
    value is in the base currency (``rates``, read when not given); one in a currency without
    a rate is None, so no rule on an amount matches it (governance.money)."""
    field = rule.field
    if field == "size_band":
        return lead.organization.size_band if lead.organization else None
    if field == "value":
        cents = cents_in_base(lead.value_cents, lead.currency, rates or current_rates())
        return None if cents is None else Decimal(cents) / 100
    if field == "email_domain":
        return lead.email.rsplit("@", 1)[-1].lower() if lead.email and "@" in lead.email else None
    if field == "tags":
        return [tag.name for tag in lead.tags]
    if field == "custom":
        return (lead.custom_fields or {}).get(rule.custom_key or "")
    return getattr(lead, field, None)


def _is_set(value) -> bool:
    return value not in (None, "", [], {})


def _matches_one(value, operator: str, wanted: str) -> bool:
    if operator in NUMERIC_OPERATORS:
        have, limit = _number(value), _number(wanted)
        if have is None or limit is None:
            return False
        return have >= limit if operator == "gte" else have <= limit
    text = str(value).strip().lower()
    if operator == "contains":
        return wanted.strip().lower() in text
    if operator == "equals":
        have, limit = _number(value), _number(wanted)
        if have is not None and limit is not None:
            return have == limit
        return text == wanted.strip().lower()
    if operator == "in":
        return text in {item.strip().lower() for item in wanted.split(",") if item.strip()}
    return False


def fit_matches(lead: Lead, rule: ScoringRule, rates: Rates | None = None) -> bool:
    if rule.field == "value" and rule.operator == "is_set":  # whether it has one, in any currency
        return lead.value_cents is not None
    value = lead_field_value(lead, rule, rates)
    if rule.operator == "is_set":
        return _is_set(value)
    if not _is_set(value):
        return False
    values = value if isinstance(value, list) else [value]
    return any(_matches_one(v, rule.operator, rule.value or "") for v in values)


def decay_factor(occurred_at: datetime, now: datetime, half_life_days: int) -> float:
    if not half_life_days:
        return 1.0
    age_days = max(0.0, (now - occurred_at).total_seconds() / 86400)
    return 0.5 ** (age_days / half_life_days)


def _capped(total: float, cap: int | None) -> float:
    if cap is None:
        return total
    return max(-abs(cap), min(abs(cap), total))


def _round(points: float) -> int:
    return int(math.floor(points + 0.5)) if points >= 0 else -int(math.floor(-points + 0.5))


def last_engagement(lead: Lead, activities: list[ActivityFact]) -> datetime:
    times = [a.occurred_at for a in activities if a.kind in ENGAGEMENT_KINDS]
    return max(times) if times else lead.created_at


def compute_score(lead: Lead, activities: list[ActivityFact], rules: list[ScoringRule], now: datetime,
                  *, half_life_days: int = 0, rates: Rates | None = None) -> tuple[int, list[dict]]:
    """The lead's score and which rules gave it: ``(total, [{rule_id, name, points, detail}])``.

    Rules that give nothing are left out of the breakdown. The total never goes below 0.
    """
    breakdown: list[dict] = []
    for rule in rules:
        if not rule.active:
            continue
        points, detail = 0, ""
        if rule.category == "fit":
            if rates is None and rule.field == "value":
                rates = current_rates()
            if fit_matches(lead, rule, rates):
                points = rule.points
                detail = _fit_detail(lead, rule, rates)
        elif rule.category == "engagement":
            hits = [a for a in activities if a.kind == rule.activity_kind
                    and (not rule.contains or rule.contains.strip().lower() in a.text.lower())]
            if hits:
                raw = sum(rule.points * decay_factor(a.occurred_at, now, half_life_days) for a in hits)
                points = _round(_capped(raw, rule.cap))
                detail = f"{len(hits)} × {rule.points:+d}"
                if half_life_days:
                    detail += f", halved every {half_life_days} days"
                if rule.cap is not None and abs(raw) > abs(rule.cap):
                    detail += f", capped at {abs(rule.cap)}"
        elif rule.category == "inactivity" and rule.days:
            idle = now - last_engagement(lead, activities)
            if idle >= timedelta(days=rule.days):
                points = rule.points
                detail = f"No activity for {idle.days} days"
        if points:
            breakdown.append({"rule_id": rule.id, "name": rule.name, "points": points, "detail": detail})
    total = max(0, sum(item["points"] for item in breakdown))
    return total, breakdown


def _fit_detail(lead: Lead, rule: ScoringRule, rates: Rates | None = None) -> str:
    value = lead_field_value(lead, rule, rates)
    if rule.field == "value" and rates is not None:
        shown = money(lead.value_cents, lead.currency) + (
            "" if lead.currency == rates.base or value is None
            else f" ≈ {money(int(value * 100), rates.base)} {rates.base}")
        return f"{rule_field_label(rule)}: {shown}"[:200]
    shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return f"{rule_field_label(rule)}: {shown}"[:200]


# --- settings --------------------------------------------------------------------------

def scoring_settings() -> dict:
    """The thresholds, kept for the process while no setting changes (``refcache``): every
    arrival batch and rescore asks."""
    return {**DEFAULT_SETTINGS, **dict(refcache.cached(("settings",), "scoring settings", _stored_settings))}


def _stored_settings() -> tuple[tuple[str, object], ...]:
    row = db.session.get(Setting, SETTINGS_KEY)
    stored = row.value if row is not None and isinstance(row.value, dict) else {}
    return tuple((k, v) for k, v in stored.items() if k in DEFAULT_SETTINGS)


def _int_or_error(raw, key: str, errors: dict) -> int | None:
    low, high = SETTING_BOUNDS[key]
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        errors[key] = [f"Enter a whole number from {low} to {high}."]
        return None
    if not low <= value <= high:
        errors[key] = [f"Enter a whole number from {low} to {high}."]
        return None
    return value


def update_scoring_settings(actor, data: dict) -> dict:
    """Save the thresholds (every error reported at once, nothing saved on error)."""
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    values = {key: _int_or_error(data.get(key), key, errors) for key in SETTING_BOUNDS}
    values["lifecycle_auto"] = bool(data.get("lifecycle_auto"))
    if not errors and values["hot_at"] <= values["warm_at"]:
        errors["hot_at"] = ["Hot must start at a higher score than warm."]
    if not errors and values["sql_at"] <= values["mql_at"]:
        errors["sql_at"] = ["SQL must start at a higher score than MQL."]
    if errors:
        raise ValidationFailed(errors)
    old = scoring_settings()
    write_setting(SETTINGS_KEY, values)
    if record_changes(actor, "setting", 0, {f"scoring.{k}": v for k, v in old.items()},
                      {f"scoring.{k}": v for k, v in values.items()}):
        mark_scores_stale()
    db.session.flush()
    return values


def mark_scores_stale(now: datetime | None = None) -> None:
    """Note that rules or thresholds changed: stored scores are stale until a rescore of every
    lead starts after ``now`` (see ``queries.scores_are_stale``)."""
    write_setting(STALE_SINCE_KEY, (now or utcnow()).isoformat())


def scores_stale_since() -> datetime | None:
    row = db.session.get(Setting, STALE_SINCE_KEY)
    try:
        return datetime.fromisoformat(row.value) if row is not None and row.value else None
    except (TypeError, ValueError):
        return None


def temperature_for(score: int, settings: dict) -> str:
    if score >= settings["hot_at"]:
        return "hot"
    if score >= settings["warm_at"]:
        return "warm"
    return "cold"


def lifecycle_for(current: str, score: int, settings: dict) -> str:
    """Where the score takes the lead's lifecycle: only forward, only from subscriber/lead/MQL."""
    if not settings["lifecycle_auto"] or current not in AUTO_LIFECYCLE_ORDER:
        return current
    target = current
    if score >= settings["sql_at"]:
        target = "sql"
    elif score >= settings["mql_at"]:
        target = "mql"
    if AUTO_LIFECYCLE_ORDER.index(target) > AUTO_LIFECYCLE_ORDER.index(current):
        return target
    return current


# --- storing scores --------------------------------------------------------------------

@dataclass(frozen=True)
class ActiveRule:
    """What scoring reads of an active rule (``compute_score`` takes these or the rows alike),
    kept for the process while no rule changes (``refcache``)."""
    id: int
    name: str
    category: str
    active: bool
    points: int
    position: int
    field: str | None
    custom_key: str | None
    operator: str | None
    value: str | None
    activity_kind: str | None
    contains: str | None
    cap: int | None
    days: int | None


_RULE_COLUMNS = tuple(getattr(ScoringRule, name) for name in ActiveRule.__dataclass_fields__)


def active_rules() -> list[ActiveRule]:
    """The active rules in their order (a new list each call; the rules themselves are shared)."""
    return list(refcache.cached(("scoring_rules",), "active scoring rules", lambda: tuple(
        ActiveRule(*row) for row in db.session.execute(select(*_RULE_COLUMNS).where(
            ScoringRule.active.is_(True)).order_by(ScoringRule.position, ScoringRule.id)))))


def activity_facts(lead_ids: list[int]) -> dict[int, list[ActivityFact]]:
    """Every engagement activity of these leads, in one query."""
    facts: dict[int, list[ActivityFact]] = defaultdict(list)
    if not lead_ids:
        return facts
    rows = db.session.execute(
        select(Activity.lead_id, Activity.kind, Activity.occurred_at, Activity.subject, Activity.details)
        .where(Activity.lead_id.in_(lead_ids), Activity.kind.in_(ENGAGEMENT_KINDS)))
    for lead_id, kind, occurred_at, subject, details in rows:
        facts[lead_id].append(ActivityFact(kind, occurred_at, activity_text(subject, details)))
    return facts


def rescore_leads(leads: list[Lead], now: datetime | None = None, *, rules: list[ScoringRule] | None = None,
                  settings: dict | None = None, move_lifecycle: bool = True) -> int:
    """Score these leads again; returns how many changed score. With no active rule every
    lead's score is 0 (nothing is read for leads that already have no score)."""
    rules = active_rules() if rules is None else rules
    if not leads or not (rules or any(lead.score or lead.score_breakdown for lead in leads)):
        return 0
    settings = settings or scoring_settings()
    return sum(store_score(lead, total, breakdown, settings, move_lifecycle=move_lifecycle)
               for lead, total, breakdown in computed_scores(leads, rules, settings, now or utcnow()))


def computed_scores(leads: list[Lead], rules: list[ScoringRule], settings: dict,
                    now: datetime) -> Iterator[tuple[Lead, int, list[dict]]]:
    """(lead, total, breakdown) for each lead, its activities read in one query."""
    facts = activity_facts([lead.id for lead in leads])
    rates = current_rates() if any(rule.field == "value" for rule in rules) else None
    for lead in leads:
        total, breakdown = compute_score(lead, facts.get(lead.id, []), rules, now,
                                         half_life_days=settings["half_life_days"], rates=rates)
        yield lead, total, breakdown


def score_values(lead: Lead, total: int, breakdown: list[dict], settings: dict, *,
                 move_lifecycle: bool = True) -> dict:
    """The lead columns a score sets: score, breakdown, temperature and (forward) lifecycle."""
    values = {"score": total, "score_breakdown": breakdown, "temperature": temperature_for(total, settings)}
    if move_lifecycle:
        values["lifecycle"] = lifecycle_for(lead.lifecycle, total, settings)
    return values


def rescore_lead(lead: Lead, now: datetime | None = None, *, move_lifecycle: bool = True) -> bool:
    return bool(rescore_leads([lead], now, move_lifecycle=move_lifecycle))


def store_score(lead: Lead, total: int, breakdown: list[dict], settings: dict, *, move_lifecycle: bool = True) -> bool:
    """Write the score, breakdown, temperature and lifecycle that changed; True when the score did."""
    old_score = lead.score or 0
    values = score_values(lead, total, breakdown, settings, move_lifecycle=move_lifecycle)
    current = {key: getattr(lead, key) for key in values}
    changes = {key: value for key, value in values.items() if value != current[key]}
    if not changes:
        return False
    seen = [k for k in ("lifecycle", "temperature") if k in changes]  # what the lead's history shows
    if seen:
        record_changes(SCORING, "lead", lead.id, {k: current[k] for k in seen}, {k: changes[k] for k in seen})
    # Announced like a person's edit: a workflow rule on "temperature changes" fires either way.
    store.update_columns([lead.id], changes, SCORING, announce=seen)
    if total == old_score:
        return False
    subject = _score_subject(old_score, total, changes)
    db.session.add(Activity(lead_id=lead.id, kind="score_change", actor_id=None, subject=subject,
                            occurred_at=utcnow(), details={"old": old_score, "new": total}))
    db.session.flush()
    events.score_changed(lead, SCORING, old_score, total)
    return True


def store_scores(scored: Iterable[tuple[Lead, int, list[dict]]], settings: dict) -> int:
    """``store_score`` for a batch of leads (new ones: their lifecycle moves forward), set-based:
    the leads whose score, breakdown, temperature and lifecycle come out the same (most new
    leads of a batch) share one UPDATE and one ``leads.changed``; the audit entries and the
    "Score a → b" timeline entries are one INSERT each. Then one ``score.changed`` for the leads
    whose score moved (its handlers give each what one at a time would). Returns how many did."""
    groups: dict[str, tuple[dict, list[Lead]]] = {}
    audits: dict[int, tuple[dict, dict]] = {}
    moved: list[tuple[Lead, int, int, dict]] = []
    for lead, total, breakdown in scored:
        values = score_values(lead, total, breakdown, settings)
        changes = {key: value for key, value in values.items() if value != getattr(lead, key)}
        if not changes:
            continue
        seen = [k for k in ("lifecycle", "temperature") if k in changes]
        if seen:
            audits[lead.id] = ({k: getattr(lead, k) for k in seen}, {k: changes[k] for k in seen})
        old_score = lead.score or 0
        if total != old_score:
            moved.append((lead, old_score, total, changes))
        key = json.dumps(changes, sort_keys=True, default=str)
        groups.setdefault(key, (changes, []))[1].append(lead)
    if not groups:
        return 0
    record_changes_many(SCORING, "lead", audits)
    for changes, leads in groups.values():
        seen = [k for k in ("lifecycle", "temperature") if k in changes]
        store.update_columns([lead.id for lead in leads], changes, SCORING, announce=seen)
    if moved:
        at = utcnow()
        db.session.execute(Activity.__table__.insert(), [
            {"lead_id": lead.id, "kind": "score_change", "actor_id": None, "subject": _score_subject(old, new, changes),
             "occurred_at": at, "created_at": at, "details": {"old": old, "new": new}}
            for lead, old, new, changes in moved])
        events.scores_changed([(lead, old, new) for lead, old, new, _ in moved], SCORING)
    return len(moved)


def _score_subject(old: int, new: int, changes: dict) -> str:
    subject = f"Score {old} → {new}"
    if "lifecycle" in changes:
        subject += f" · now {LIFECYCLE_LABELS.get(changes['lifecycle'], changes['lifecycle'])}"
    return subject


def score_new_leads(arrivals: Arrivals) -> None:
    """New leads, whatever their channel, scored as a batch (``store_scores``)."""
    rules = active_rules()
    leads = load_leads(arrivals.ids, organizations=any(rule.field == "size_band" for rule in rules))
    if not leads or not (rules or any(lead.score or lead.score_breakdown for lead in leads)):
        return
    settings = scoring_settings()
    store_scores(computed_scores(leads, rules, settings, utcnow()), settings)


def rescore_changed_leads(ids: list[int], actor, fields=()) -> None:
    if actor is SCORING:
        return  # its own temperature or lifecycle: the score that set them is current
    fields = set(fields or ())
    if fields and fields <= {"score", "temperature"}:
        return  # a temperature set by hand stays until the score itself moves
    if fields and not any(_reads(rule, field) for rule in _readers() for field in fields):
        return  # a card moved, an owner changed: no rule reads it, the score stands as it is
    # A lifecycle someone just set by hand stays as they set it.
    rescore_leads(load_leads(ids), rules=active_rules(), move_lifecycle="lifecycle" not in fields)


@dataclass(frozen=True)
class _Reader:
    """What ``_reads`` asks of an active rule, kept for the process (``refcache``): a change no
    rule reads (most moves) reads no rule."""
    category: str
    field: str | None


def _readers() -> tuple[_Reader, ...]:
    return refcache.cached(("scoring_rules",), "scoring readers", lambda: tuple(
        _Reader(category, field) for category, field in db.session.execute(
            select(ScoringRule.category, ScoringRule.field).where(ScoringRule.active.is_(True)))))


# The changed fields (as ``leads.changed`` names them) each fit rule's field is read from.
_FIT_INPUTS = {"size_band": ("organization",), "value": ("value", "currency"), "email_domain": ("email",)}


def _reads(rule: ScoringRule | _Reader, field: str) -> bool:
    """Whether ``rule`` may give other points once ``field`` changed: a fit rule on it (a
    custom field rule on any custom field). Engagement and inactivity rules read activities,
    which no field change touches."""
    if rule.category != "fit":
        return False
    if rule.field == "custom":
        return field == "custom_fields" or field.startswith(AUDIT_PREFIX)
    return field in _FIT_INPUTS.get(rule.field, (rule.field,))


def rescore_after_activity(lead: Lead, actor, activity=None) -> None:
    rescore_lead(lead)


def register(bus: Bus) -> None:
    """Scoring's handlers: a new lead is scored (after routing, before alerts and workflow
    rules read its temperature), a changed lead and a lead with a new activity again."""
    bus.on(events.ARRIVED, score_new_leads, order=20)
    bus.on(events.CHANGED, rescore_changed_leads)
    bus.on(events.ACTIVITY_ADDED, rescore_after_activity)


def leads_for_rescoring(after_id: int, limit: int) -> list[Lead]:
    return list(db.session.scalars(
        select(Lead).options(joinedload(Lead.organization), selectinload(Lead.tags))
        .where(Lead.deleted_at.is_(None), Lead.id > after_id).order_by(Lead.id).limit(limit)))


def has_time_based_points(rules: list[ScoringRule], settings: dict) -> bool:
    """Whether scores change with time alone (decay or an inactivity rule)."""
    return any(r.category == "inactivity" for r in rules) or (
        bool(settings["half_life_days"]) and any(r.category == "engagement" for r in rules))


# --- the rules admin -------------------------------------------------------------------

def rule_field_label(rule: ScoringRule) -> str:
    if rule.field == "custom":
        return f"Custom field “{rule.custom_key}”"
    return FIELD_LABELS.get(rule.field or "", rule.field or "")


def describe_rule(rule: ScoringRule) -> str:
    """The rule in words, for the list: “Job title contains ‘director’”."""
    if rule.category == "fit":
        if rule.operator == "is_set":
            return f"{rule_field_label(rule)} {OPERATOR_LABELS['is_set']}"
        value = f"{rule.value} {base_currency()}" if rule.field == "value" else rule.value  # compared in the base
        return f"{rule_field_label(rule)} {OPERATOR_LABELS.get(rule.operator, rule.operator)} “{value}”"
    if rule.category == "engagement":
        text = f"Each {kind_label(rule.activity_kind or '')[0].lower()}"
        if rule.contains:
            text += f" mentioning “{rule.contains}”"
        if rule.cap is not None:
            text += f" (at most {rule.cap} points)"
        return text
    return f"No activity for {rule.days} days"


def _optional_int(raw, key: str, label: str, errors: dict, *, low: int, high: int) -> int | None:
    text = str(raw if raw is not None else "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        errors[key] = [f"Enter {label} as a whole number."]
        return None
    if not low <= value <= high:
        errors[key] = [f"Enter {label} from {low} to {high}."]
        return None
    return value


def clean_rule_input(data: dict) -> dict:
    """Check a rule's input; raises ValidationFailed with every problem at once."""
    errors: dict[str, list[str]] = {}
    name = str(data.get("name") or "").strip()
    if not name:
        errors["name"] = ["Give the rule a name."]
    elif len(name) > 120:
        errors["name"] = ["Keep the name to 120 characters."]
    category = data.get("category")
    if category not in CATEGORIES:
        errors["category"] = ["Choose what the rule looks at."]
    points = _optional_int(data.get("points"), "points", "the points", errors, low=-1000, high=1000)
    if points is None and "points" not in errors:
        errors["points"] = ["Enter the points (negative to take points away)."]
    elif points == 0:
        errors["points"] = ["A rule worth 0 points does nothing: enter points other than 0."]
    values = {"name": name[:120], "category": category, "points": points, "field": None, "custom_key": None,
              "operator": None, "value": None, "activity_kind": None, "contains": None, "cap": None, "days": None}
    if category == "fit":
        _clean_fit(data, values, errors)
    elif category == "engagement":
        kind = data.get("activity_kind")
        if kind not in ENGAGEMENT_KINDS:
            errors["activity_kind"] = ["Choose a kind of activity."]
        values["activity_kind"] = kind
        values["contains"] = str(data.get("contains") or "").strip()[:200] or None
        values["cap"] = _optional_int(data.get("cap"), "cap", "the cap", errors, low=1, high=10000)
    elif category == "inactivity":
        days = _optional_int(data.get("days"), "days", "the number of days", errors, low=1, high=3650)
        if days is None and "days" not in errors:
            errors["days"] = ["Enter after how many days without activity the rule applies."]
        values["days"] = days
    if errors:
        raise ValidationFailed(errors)
    return values


def _clean_fit(data: dict, values: dict, errors: dict) -> None:
    field, operator = data.get("field"), data.get("operator")
    if field not in FIELDS:
        errors["field"] = ["Choose a lead field."]
    if field == "custom":
        key = str(data.get("custom_key") or "").strip()
        if not key:
            errors["custom_key"] = ["Enter the custom field's key."]
        values["custom_key"] = key[:64] or None
    if operator not in OPERATORS:
        errors["operator"] = ["Choose how to compare."]
    value = str(data.get("value") or "").strip()
    if operator in OPERATORS and operator != "is_set":
        if not value:
            errors["value"] = ["Enter the value to compare with."]
        elif operator in NUMERIC_OPERATORS and _number(value) is None:
            errors["value"] = ["Enter a number to compare with (for example 10000)."]
        elif operator in NUMERIC_OPERATORS and field not in ("value", "custom"):
            errors["operator"] = ["“At least” and “at most” compare numbers: use them with deal value or a custom field."]
    values.update(field=field, operator=operator, value=None if operator == "is_set" else value[:1000] or None)


def list_rules() -> list[ScoringRule]:
    return list(db.session.scalars(select(ScoringRule).order_by(ScoringRule.position, ScoringRule.id)))


def create_rule(actor, data: dict) -> ScoringRule:
    _require_admin(actor)
    values = clean_rule_input(data)
    last = db.session.scalar(select(db.func.max(ScoringRule.position))) or 0
    rule = ScoringRule(active=True, position=last + 1, **values)
    db.session.add(rule)
    db.session.flush()
    record_event(actor, "scoring_rule", rule.id, "create", rule.name)
    mark_scores_stale()
    return rule


def update_rule(actor, rule: ScoringRule, data: dict) -> ScoringRule:
    _require_admin(actor)
    values = clean_rule_input(data)
    before = {key: getattr(rule, key) for key in values}
    for key, value in values.items():
        setattr(rule, key, value)
    if record_changes(actor, "scoring_rule", rule.id, before, values):
        mark_scores_stale()
    db.session.flush()
    return rule


def set_rule_active(actor, rule: ScoringRule, active: bool) -> None:
    _require_admin(actor)
    if rule.active != active:
        record_changes(actor, "scoring_rule", rule.id, {"active": rule.active}, {"active": active})
        rule.active = active
        mark_scores_stale()
        db.session.flush()


def delete_rule(actor, rule: ScoringRule) -> None:
    _require_admin(actor)
    record_event(actor, "scoring_rule", rule.id, "delete", rule.name)
    db.session.delete(rule)
    mark_scores_stale()
    db.session.flush()


def move_rule(actor, rule: ScoringRule, direction: str) -> bool:
    """Move the rule one place up or down in the list (and in each lead's breakdown, once
    rescored); False when it is already at that end."""
    _require_admin(actor)
    return move_in_order(actor, "scoring_rule", list_rules(), rule, direction)


def rule_input_from_model(rule: ScoringRule) -> dict:
    return {key: getattr(rule, key) for key in (
        "name", "category", "points", "field", "custom_key", "operator", "value", "activity_kind", "contains",
        "cap", "days")}
