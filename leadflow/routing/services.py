"""Lead routing: which rule places a new lead, with whom, and the assignment itself.

``route_lead`` only decides (and takes a round-robin turn); ``assign_lead`` sets the owner,
writes the timeline entry and the audit entry. Services flush; the caller commits.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import NamedTuple

from sqlalchemy import func, update

from leadflow.accounts.models import Team, User
from leadflow.accounts.system import system_actor
from leadflow.activities.models import Activity
from leadflow.capture.models import CaptureForm
from leadflow.db import dialect_insert, parse_id, utcnow
from leadflow.errors import NotFound, ValidationFailed
from leadflow.extensions import db
from leadflow.governance.audit import record_changes, record_changes_many, record_event
from leadflow.governance.ordering import move_in_order
from leadflow.governance.settings import get_setting, set_setting
from leadflow.leads import events, store
from leadflow.leads.events import Arrivals, Bus, arrival_context, arriving, load_leads
from leadflow.leads.models import SOURCES, Lead
from leadflow.organizations.models import SIZE_BANDS
from leadflow.pipeline.models import Stage
from leadflow.routing.models import STRATEGIES, STRATEGY_LABELS, TARGET_KINDS, RoutingAssignee, RoutingRule
from leadflow.web import refcache

FALLBACK_SETTING = "routing_fallback_owner_id"
LIST_CONDITIONS = ("sources", "countries", "languages", "size_bands", "form_ids")
MAX_LIST = 50


@dataclass(frozen=True)
class RoutingDecision:
    user_id: int | None
    rule: RoutingRule | None
    reason: str


# --- conditions ----------------------------------------------------------------------------

def _as_list(raw) -> list:
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        raw = raw.replace(";", ",").split(",")
    return [str(item).strip() for item in raw if str(item).strip()]


def clean_conditions(data: dict) -> dict:
    """Validate conditions from a form or JSON; raises ValidationFailed naming each bad field."""
    errors: dict[str, list[str]] = {}
    out: dict = {}
    sources = _as_list(data.get("sources"))
    if any(s not in SOURCES for s in sources):
        errors["sources"] = ["Choose sources from the list."]
    countries = [c.upper() for c in _as_list(data.get("countries"))]
    if any(len(c) != 2 or not c.isalpha() for c in countries):
        errors["countries"] = ["Use two-letter country codes separated by commas, such as DE, FR."]
    languages = [lang.lower() for lang in _as_list(data.get("languages"))]
    if any(not 2 <= len(lang) <= 16 or not lang.replace("-", "").isalpha() for lang in languages):
        errors["languages"] = ["Use language codes separated by commas, such as en, de, pt-br."]
    size_bands = _as_list(data.get("size_bands"))
    if any(b not in SIZE_BANDS for b in size_bands):
        errors["size_bands"] = ["Choose organization sizes from the list."]
    form_ids: list[int] = []
    for raw in _as_list(data.get("form_ids")):
        if parse_id(raw) is None:
            errors["form_ids"] = ["Choose capture forms from the list."]
            break
        form_ids.append(parse_id(raw))
    if form_ids:
        known = set(db.session.scalars(db.select(CaptureForm.id).where(CaptureForm.id.in_(form_ids))))
        if known != set(form_ids):
            errors["form_ids"] = ["One of those capture forms no longer exists."]
    for key, values in (("sources", sources), ("countries", countries), ("languages", languages),
                        ("size_bands", size_bands), ("form_ids", form_ids)):
        if len(values) > MAX_LIST:
            errors.setdefault(key, []).append(f"List at most {MAX_LIST} values.")
        if values:
            out[key] = sorted(set(values), key=values.index)
    field = " ".join(str(data.get("interest_field") or "").split())
    contains = " ".join(str(data.get("interest_contains") or "").split())
    if bool(field) != bool(contains):
        errors["interest_contains" if field else "interest_field"] = [
            "Give both the custom field and the text it should contain, or neither."]
    elif field:
        if len(field) > 64 or len(contains) > 120:
            errors["interest_field"] = ["Use at most 64 characters for the field and 120 for the text."]
        out["interest"] = {"field": field, "contains": contains}
    if errors:
        raise ValidationFailed(errors)
    return out


def _lead_language(lead: Lead) -> str | None:
    value = (lead.custom_fields or {}).get("language") or arrival_context().get("language")
    return str(value).strip().lower() or None if value else None


def rule_matches(rule: RoutingRule, lead: Lead) -> bool:
    """Every condition the rule has must hold; a rule with none matches every lead."""
    c = rule.conditions or {}
    if c.get("sources") and lead.source not in c["sources"]:
        return False
    if c.get("countries") and (lead.country or "").upper() not in c["countries"]:
        return False
    if c.get("languages") and _lead_language(lead) not in c["languages"]:
        return False
    if c.get("size_bands"):
        band = lead.organization.size_band if lead.organization else None
        if band not in c["size_bands"]:
            return False
    if c.get("form_ids") and arrival_context().get("form_id") not in c["form_ids"]:
        return False
    interest = c.get("interest")
    if interest:
        value = (lead.custom_fields or {}).get(interest["field"])
        if value is None or interest["contains"].lower() not in str(value).lower():
            return False
    return True


# --- candidates ----------------------------------------------------------------------------

def open_lead_counts(user_ids: list[int]) -> dict[int, int]:
    """Open leads (stage kind open, not in the trash) owned by each user."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        db.select(Lead.owner_id, func.count(Lead.id))
        .join(Stage, Stage.id == Lead.stage_id)
        .where(Lead.owner_id.in_(user_ids), Lead.deleted_at.is_(None), Stage.kind == "open")
        .group_by(Lead.owner_id)
    ).all()
    counts = {uid: 0 for uid in user_ids}
    counts.update({uid: n for uid, n in rows})
    return counts


def skip_reason(user: User | Person, now: datetime, open_count: int) -> str | None:
    if not user.active:
        return "inactive"
    if user.out_of_office_until is not None and user.out_of_office_until > now:
        return "out of office"
    if user.max_open_leads is not None and open_count >= user.max_open_leads:
        return "at workload cap"
    return None


class Person(NamedTuple):
    """A user as kept for the process: the columns whose writes bump the users version
    (``refcache.USER_COLUMNS``), which are what the availability test (``skip_reason``) and
    an "Assigned to" entry read."""
    id: int
    name: str
    email: str
    role: str
    active: bool
    team_id: int | None
    out_of_office_until: datetime | None
    max_open_leads: int | None


@dataclass(frozen=True)
class KeptPeople:
    by_id: Mapping[int, Person]
    team_writers: Mapping[int, tuple[Person, ...]]  # team id → its members who are not viewers, by id


def kept_people() -> KeptPeople:
    """Every user, and each team's writers, as plain data kept for the process (see
    ``web/refcache.py``): a capture form's owner is chosen without reading users. A change to
    a person's availability (active, out of office, cap) bumps the users version, so the next
    read sees it; their open leads are not kept (``available_users`` counts them)."""
    return refcache.cached(("users",), "routing people", _load_people)


def _load_people() -> KeptPeople:
    users = User.__table__
    people = [Person(*row) for row in db.session.execute(
        db.select(*(users.c[name] for name in Person._fields)).order_by(users.c.id))]
    teams: dict[int, list[Person]] = {}
    for person in people:
        if person.team_id is not None and person.role != "viewer":
            teams.setdefault(person.team_id, []).append(person)
    return KeptPeople(MappingProxyType({person.id: person for person in people}),
                      MappingProxyType({team_id: tuple(members) for team_id, members in teams.items()}))


def _candidates(rule: RoutingRule) -> list[User]:
    if rule.target_kind == "user":
        return [rule.target_user] if rule.target_user is not None else []
    if rule.target_team_id is None:
        return []
    return list(db.session.scalars(
        db.select(User).where(User.team_id == rule.target_team_id, User.role != "viewer").order_by(User.id)))


def _eligible(users: list[User], now: datetime, *, counted: bool = False) -> tuple[list[User], dict[int, int]]:
    """The users who can take a lead now, and open-lead counts: of everyone with ``counted``
    (a least-open pick compares them), else only of those with a workload cap (the others'
    counts are 0 here: counting a rep's open leads reads as many index entries as they own,
    which grows with the database, for nothing when there is no cap to compare it with)."""
    counts = {u.id: 0 for u in users}
    counts.update(open_lead_counts([u.id for u in users if counted or u.max_open_leads is not None]))
    return [u for u in users if skip_reason(u, now, counts[u.id]) is None], counts


def available_users(users: list, now: datetime | None = None) -> list:
    """Those of ``users`` (User objects or kept ``Person``s) who can take a lead now: active,
    in office, under their cap."""
    return _eligible(users, now or utcnow())[0]


def eligible_team_members(team: Team, now: datetime | None = None) -> list[User]:
    """Who in ``team`` can take a lead now (active, in office, under their cap), by id."""
    users = list(db.session.scalars(
        db.select(User).where(User.team_id == team.id, User.role != "viewer").order_by(User.id)))
    return _eligible(users, now or utcnow())[0]


def team_rotation_rule(team_id: int) -> RoutingRule | None:
    """The first active round-robin rule (in rule order) giving leads to this team: its
    counter is the team's round-robin turn."""
    return db.session.scalar(db.select(RoutingRule).where(
        RoutingRule.active.is_(True), RoutingRule.target_kind == "team", RoutingRule.target_team_id == team_id,
        RoutingRule.strategy == "round_robin").order_by(RoutingRule.position, RoutingRule.id).limit(1))


def team_round_robin(team: Team, now: datetime | None = None, start: int = 0) -> Callable[[], User] | None:
    """Who gets each next lead of a round-robin over ``team`` by hand (bulk reassign): the
    members who can take a lead now, taking turns on the counter of the team's round-robin
    routing rule, so automatic routing goes on from where the bulk left off. Without such a
    rule, the turns start at member ``start`` (a bulk job's later batches go on from the turns
    the earlier ones took). None when nobody in the team is available."""
    members = eligible_team_members(team, now)
    if not members:
        return None
    rule = team_rotation_rule(team.id)
    if rule is None:
        turns = itertools.count(start)
        return lambda: members[next(turns) % len(members)]
    return lambda: members[take_turn(rule) % len(members)]


def take_turn(rule: RoutingRule) -> int:
    """Advance the rule's round-robin counter atomically and return the turn taken (0-based).

    The UPDATE locks the row until the transaction ends (SQLite: the database; PostgreSQL:
    the row), so two arrivals at once always read different turns.
    """
    db.session.execute(update(RoutingRule).where(RoutingRule.id == rule.id)
                       .values(rotation=RoutingRule.rotation + 1)
                       .execution_options(synchronize_session=False))
    turn = db.session.scalar(db.select(RoutingRule.rotation).where(RoutingRule.id == rule.id))
    db.session.expire(rule, ["rotation"])
    return turn - 1


class Router:
    """Routing decisions for a batch of leads, in order, as one lead at a time would make them.

    What every decision reads (the active rules, each rule's people, their open-lead counts,
    the fallback owner, when each last got a lead) is read once for the batch and kept up to
    date in memory as leads are given out: a rep at her workload cap after the third lead of
    the batch is passed over for the fourth, a least-open pick sees the leads given so far.
    A round-robin rule's counter is locked when the batch first takes its turn (the UPDATE
    holds the row, SQLite's database, until the transaction ends) and advanced by the turns
    taken with one write at ``finish``; ``preview`` only says whose turn it would be."""

    def __init__(self, now: datetime | None = None, *, preview: bool = False):
        self.now, self.preview = now or utcnow(), preview
        self._rules: list[RoutingRule] | None = None
        self._people: dict[int, tuple[list[User], dict[int, int]]] = {}
        self._turns: dict[int, int] = {}  # rule id → next turn (0-based)
        self._taken: dict[int, int] = {}  # rule id → turns this batch took
        self._last: dict[int, datetime | None] = {}
        self._fallback: tuple[User | None] | None = None
        self._open_stages: set[int] | None = None

    def rules(self) -> list[RoutingRule]:
        if self._rules is None:
            self._rules = active_rules()
        return self._rules

    def _candidates(self, rule: RoutingRule) -> tuple[list[User], dict[int, int]]:
        if rule.id not in self._people:
            users = _candidates(rule)
            counts = {u.id: 0 for u in users}
            counts.update(open_lead_counts([u.id for u in users
                                            if rule.strategy == "least_open" or u.max_open_leads is not None]))
            self._people[rule.id] = (users, counts)
        return self._people[rule.id]

    def _eligible(self, rule: RoutingRule) -> tuple[list[User], dict[int, int]]:
        users, counts = self._candidates(rule)
        return [u for u in users if skip_reason(u, self.now, counts[u.id]) is None], counts

    def _turn(self, rule: RoutingRule) -> int:
        if rule.id not in self._turns:
            if self.preview:
                self._turns[rule.id] = rule.rotation or 0
            else:  # lock the counter, then read it: two batches at once never take the same turns
                db.session.execute(update(RoutingRule).where(RoutingRule.id == rule.id)
                                   .values(rotation=RoutingRule.rotation + 0).execution_options(synchronize_session=False))
                self._turns[rule.id] = db.session.scalar(db.select(RoutingRule.rotation).where(
                    RoutingRule.id == rule.id)) or 0
        turn = self._turns[rule.id]
        self._turns[rule.id] = turn + 1
        self._taken[rule.id] = self._taken.get(rule.id, 0) + 1
        return turn

    def _waited(self, users: list[User]) -> dict[int, datetime | None]:
        missing = [u.id for u in users if u.id not in self._last]
        if missing:
            self._last.update({uid: None for uid in missing})
            self._last.update(db.session.execute(db.select(RoutingAssignee.user_id, RoutingAssignee.last_assigned_at)
                                                 .where(RoutingAssignee.user_id.in_(missing))).all())
        return self._last

    def _pick(self, rule: RoutingRule, users: list[User], counts: dict[int, int]) -> User:
        if rule.target_kind == "user" or len(users) == 1 and rule.strategy == "least_open":
            return users[0]
        if rule.strategy == "round_robin":
            return users[self._turn(rule) % len(users)]
        last = self._waited(users)
        floor = datetime.min.replace(tzinfo=None)

        def waited(user: User):
            at = last.get(user.id)
            return at.replace(tzinfo=None) if at is not None else floor

        return min(users, key=lambda u: (counts[u.id], waited(u), u.id))

    def fallback(self) -> User | None:
        if self._fallback is None:
            self._fallback = (fallback_owner(),)
        return self._fallback[0]

    def decide(self, lead: Lead) -> RoutingDecision:
        """Who gets ``lead``: the first active rule (in order) that matches and has an
        available candidate; else the fallback owner; else nobody."""
        matched = False
        for rule in self.rules():
            if not rule_matches(rule, lead):
                continue
            matched = True
            users, counts = self._eligible(rule)
            if users:
                chosen = self._pick(rule, users, counts)
                self._given(chosen.id, lead)
                how = STRATEGY_LABELS[rule.strategy] if rule.target_kind == "team" else "direct"
                return RoutingDecision(chosen.id, rule, f"by rule '{rule.name}' ({how})")
        why = "every matching rule's people were unavailable" if matched else "no rule matched"
        fallback = self.fallback()
        if fallback is not None:
            self._given(fallback.id, lead)
            return RoutingDecision(fallback.id, None, f"as fallback owner ({why})")
        return RoutingDecision(None, None, f"left unassigned ({why})")

    def _given(self, user_id: int, lead: Lead) -> None:
        """What the next decisions see of a lead given to ``user_id``."""
        if self.preview:
            return
        self._last[user_id] = self.now
        if lead.deleted_at is None and lead.stage_id in self._open_stage_ids():
            for _, counts in self._people.values():
                if user_id in counts:
                    counts[user_id] += 1

    def _open_stage_ids(self) -> set[int]:
        if self._open_stages is None:
            self._open_stages = set(db.session.scalars(db.select(Stage.id).where(Stage.kind == "open")))
        return self._open_stages

    def finish(self) -> None:
        """Write the round-robin counters forward by the turns this batch took."""
        if self.preview:
            return
        for rule_id, taken in self._taken.items():
            db.session.execute(update(RoutingRule).where(RoutingRule.id == rule_id)
                               .values(rotation=RoutingRule.rotation + taken).execution_options(synchronize_session=False))
            rule = db.session.identity_map.get(db.session.identity_key(RoutingRule, rule_id))
            if rule is not None:
                db.session.expire(rule, ["rotation"])
        self._taken.clear()


def active_rules() -> list[RoutingRule]:
    return list(db.session.scalars(db.select(RoutingRule).where(RoutingRule.active.is_(True))
                                   .order_by(RoutingRule.position, RoutingRule.id)))


def fallback_owner() -> User | None:
    user_id = get_setting(FALLBACK_SETTING)
    user = db.session.get(User, user_id) if user_id else None
    return user if user is not None and user.active else None


def route_lead(lead: Lead, now: datetime | None = None, *, preview: bool = False) -> RoutingDecision:
    """Decide who gets ``lead`` (``Router``); a round-robin rule takes its turn (a
    ``preview`` only says whose turn it is)."""
    router = Router(now, preview=preview)
    decision = router.decide(lead)
    router.finish()
    return decision


# --- assignment ----------------------------------------------------------------------------

def note_assignment(user_id: int, at: datetime) -> None:
    """When ``user_id`` last got a lead: one upsert, so two arrivals routing to the same person
    at once (two requests, two sweeps) both succeed instead of one losing on the primary key."""
    insert = dialect_insert(db.session.get_bind().dialect.name)
    statement = insert(RoutingAssignee.__table__).values(user_id=user_id, last_assigned_at=at)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=[RoutingAssignee.__table__.c.user_id], set_={"last_assigned_at": at}))
    row = db.session.identity_map.get(db.session.identity_key(RoutingAssignee, user_id))
    if row is not None:
        db.session.expire(row)


def assign_lead(lead: Lead, user_id: int | None, actor, reason: str, *, announce: bool = True) -> bool:
    """Give ``lead`` to ``user_id`` (None: unassign), with a timeline entry and an audit entry.

    Returns False when the lead already had that owner. ``announce`` emits ``lead.changed``
    (a routing decision at arrival does not: the arrival steps after it see the owner).
    """
    if lead.owner_id == user_id:
        return False
    now = utcnow()
    old_name = lead.owner.name if lead.owner else None
    user = db.session.get(User, user_id) if user_id else None
    new_name = user.name if user else None
    store.add_timeline_entry(lead.id, "assignment", actor, f"Assigned to {new_name or 'nobody'} {reason}".strip(), now)
    record_changes(actor, "lead", lead.id, {"owner": old_name}, {"owner": new_name})
    if user is not None:
        note_assignment(user.id, now)
    store.update_columns([lead.id], {"owner_id": user.id if user else None, "updated_at": now}, actor,
                         announce=["owner"] if announce else [], bump_version=True)
    return True


# An import's leads arrive only when its starter asked for the new-lead rules.
ROUTED_CHANNELS = ("form", "api", "import")


def route_new_leads(arrivals: Arrivals) -> None:
    """New leads from outside (a capture form, the API, an import whose starter asked for
    the new-lead rules) that arrive with no owner: decided one after the other (``Router``),
    each with its own arrival context (the capture form it came through), given out set-based
    (``assign_new_leads``).

    A lead typed in by a person keeps the owner they chose, or none (reps own what they
    create).
    """
    router = Router()
    decisions = []
    for lead in load_leads(arrivals.via(ROUTED_CHANNELS)):
        if lead.owner_id is None:
            with arriving(**arrivals.context(lead.id)):
                decisions.append((lead, router.decide(lead)))
    router.finish()
    assign_new_leads([(lead, d) for lead, d in decisions if d.user_id is not None])


def assign_new_leads(decisions: list[tuple[Lead, RoutingDecision]]) -> None:
    """``assign_lead`` for a batch of unowned leads: per owner and rule, one UPDATE; the
    timeline entries ("Assigned to …") and the audit entries one INSERT each; when each owner
    last got a lead, one upsert each. No ``leads.changed``: the arrival steps after it see the owner."""
    if not decisions:
        return
    now = utcnow()
    names = {user.id: user.name for user in db.session.scalars(
        db.select(User).where(User.id.in_({d.user_id for _, d in decisions})))}
    groups: dict[tuple[int, str], list[int]] = {}
    entries = []
    for lead, decision in decisions:
        actor = _routing_actor(decision)
        groups.setdefault((decision.user_id, actor.name), []).append(lead.id)
        entries.append({"lead_id": lead.id, "kind": "assignment", "actor_id": None, "occurred_at": now, "created_at": now,
                        "subject": f"Assigned to {names[decision.user_id]} {decision.reason}".strip()[:200]})
    db.session.execute(Activity.__table__.insert(), entries)
    for (user_id, actor_name), ids in groups.items():
        actor = system_actor(actor_name)
        record_changes_many(actor, "lead", {lead_id: ({"owner": None}, {"owner": names[user_id]}) for lead_id in ids})
        store.update_columns(ids, {"owner_id": user_id, "updated_at": now}, actor, bump_version=True)
    for user_id in {user_id for user_id, _ in groups}:
        note_assignment(user_id, now)


def _routing_actor(decision: RoutingDecision):
    return system_actor(f"Routing rule “{decision.rule.name}”" if decision.rule else "Routing fallback")


def register(bus: Bus) -> None:
    """Routing runs first on arrival, so alerts, scoring and workflow rules see the owner."""
    bus.on(events.ARRIVED, route_new_leads, order=10)


# --- managing rules ------------------------------------------------------------------------

def clean_rule_input(data: dict) -> dict:
    errors: dict[str, list[str]] = {}
    name = " ".join(str(data.get("name") or "").split())
    if not name:
        errors["name"] = ["Enter a name for the rule."]
    elif len(name) > 120:
        errors["name"] = ["Use at most 120 characters."]
    kind = data.get("target_kind") or ""
    strategy = data.get("strategy") or "round_robin"
    values = {"name": name, "active": bool(data.get("active", True)), "target_kind": kind,
              "strategy": strategy, "target_user_id": None, "target_team_id": None}
    if kind not in TARGET_KINDS:
        errors["target_kind"] = ["Choose whether leads go to a person or a team."]
    elif kind == "user":
        user = db.session.get(User, _int(data.get("target_user_id")))
        if user is None or not user.active or user.role == "viewer":
            errors["target_user_id"] = ["Choose an active person who can own leads."]
        else:
            values["target_user_id"] = user.id
    else:
        team = db.session.get(Team, _int(data.get("target_team_id")))
        if team is None:
            errors["target_team_id"] = ["Choose a team."]
        else:
            values["target_team_id"] = team.id
        if strategy not in STRATEGIES:
            errors["strategy"] = ["Choose round-robin or fewest open leads."]
    try:
        values["conditions"] = clean_conditions(data)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return values


def _int(raw) -> int:
    return parse_id(raw) or 0


def create_rule(actor, data: dict) -> RoutingRule:
    values = clean_rule_input(data)
    last = db.session.scalar(db.select(func.max(RoutingRule.position))) or 0
    rule = RoutingRule(position=last + 1, rotation=0, **values)
    db.session.add(rule)
    db.session.flush()
    record_event(actor, "routing_rule", rule.id, "create", rule.name)
    return rule


def update_rule(actor, rule: RoutingRule, data: dict) -> None:
    values = clean_rule_input(data)
    before = {k: getattr(rule, k) for k in values}
    for key, value in values.items():
        setattr(rule, key, value)
    record_changes(actor, "routing_rule", rule.id, before, values)
    db.session.flush()


def set_rule_active(actor, rule: RoutingRule, active: bool) -> None:
    record_changes(actor, "routing_rule", rule.id, {"active": rule.active}, {"active": active})
    rule.active = active
    db.session.flush()


def delete_rule(actor, rule: RoutingRule) -> None:
    record_event(actor, "routing_rule", rule.id, "delete", rule.name)
    db.session.delete(rule)
    db.session.flush()


def move_rule(actor, rule: RoutingRule, direction: str) -> bool:
    """Move the rule one place up or down; False when it is already at that end."""
    rules = list(db.session.scalars(db.select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)))
    return move_in_order(actor, "routing_rule", rules, rule, direction)


def set_fallback_owner(actor, user_id) -> User | None:
    if user_id in (None, "", "0", 0):
        set_setting(actor, FALLBACK_SETTING, None)
        return None
    user = db.session.get(User, _int(user_id))
    if user is None or not user.active or user.role == "viewer":
        raise ValidationFailed({"fallback_owner_id": ["Choose an active person who can own leads."]})
    set_setting(actor, FALLBACK_SETTING, user.id)
    return user


def get_rule(rule_id: int) -> RoutingRule:
    rule = db.session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound("There is no such routing rule.")
    return rule
