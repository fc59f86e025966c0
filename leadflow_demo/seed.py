"""Writing the demo workspace: the team, organizations, leads with their history (through the
lead store, like any other writer), and the example rules, forms, tasks and sequence."""

from __future__ import annotations

import gc
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import and_, case, func, insert, literal, null, select

from leadflow.accounts.models import User
from leadflow.activities.models import Activity
from leadflow.db import insert_missing, refresh_statistics, utcnow
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.leads import store
from leadflow.leads.models import Lead, Tag
from leadflow.leads.store import NewLead
from leadflow.organizations.models import Organization
from leadflow.pipeline.models import StageChange
from leadflow.reports.models import SourceCost
from leadflow_demo.history import _Chunk, _LeadFactory
from leadflow_demo.people import (
    COMPANY_TLD, COUNTRIES, COUNTRY_WEIGHTS, DEMO_ACTOR, DEMO_LOGIN, EMAIL_PATTERNS, HISTORY_DAYS, INDUSTRIES,
    MANUAL_SOURCES, SIZE_WEIGHTS, DemoOrg, DemoUser, NamePool, _ascii, _BRAND_END, _BRAND_START,
    _utc_offset_hours, _weighted, demo_names,
)

DEMO_SEED = 20240611
FULL_HISTORY_LIMIT = 20_000
BULK_INDEX_THRESHOLD = 20_000  # from this many leads, build the lead indexes after loading
LEAD_CHUNK = 2_000  # leads built and written per round
ROW_CHUNK = 5_000  # rows per executemany

# --- the team ---------------------------------------------------------------------

# (role, team, timezone, email), names come from Faker.
TEAM_PLAN = (
    ("admin", None, "America/New_York", DEMO_LOGIN[0]),
    ("manager", None, "America/Chicago", None),
    ("rep", "Inbound", "America/New_York", None),
    ("rep", "Inbound", "Europe/London", None),
    ("rep", "Outbound", "America/Los_Angeles", None),
    ("viewer", None, "Europe/Berlin", None),
)




@dataclass
class SeedCounts:
    leads: int = 0
    stage_changes: int = 0
    activities: int = 0
    audit_entries: int = 0
    tag_links: int = 0
    history: str = "full"

    def add(self, other: "SeedCounts") -> None:
        for name in ("leads", "stage_changes", "activities", "audit_entries", "tag_links"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


# Illustrative rates to US dollars, so the demo board's totals convert the demo's currencies.
DEMO_RATES_TO_USD = {"EUR": "1.08", "GBP": "1.27", "CAD": "0.73", "AUD": "0.66"}


def seed_exchange_rates(users) -> None:
    """The demo's rates to USD, set by the demo admin (a rate already there is kept)."""
    from decimal import Decimal

    from leadflow.governance.models import ExchangeRate

    admin = next((u for u in users if u.role == "admin"), None)
    have = set(db.session.scalars(db.select(ExchangeRate.currency).where(ExchangeRate.base_currency == "USD")))
    db.session.add_all(ExchangeRate(base_currency="USD", currency=currency, rate=Decimal(rate),
                                    set_by_id=admin.id if admin else None)
                       for currency, rate in DEMO_RATES_TO_USD.items() if currency not in have)


# What the demo's paid sources cost a month, in US dollars (the sources report's cost per lead).
DEMO_SOURCE_COSTS = {"advertising": 4_200_00, "event": 2_500_00, "partner": 1_200_00}


def seed_source_costs(users, months: int = 6, now: datetime | None = None) -> None:
    """The last ``months`` months' costs of the demo's paid sources (a month already entered is kept)."""
    admin = next((u for u in users if u.role == "admin"), None)
    today = (now or datetime.now(timezone.utc)).date()
    wanted, month = [], date(today.year, today.month, 1)
    for _ in range(months):
        wanted.append(month)
        month = date(month.year - (month.month == 1), 12 if month.month == 1 else month.month - 1, 1)
    have = set(db.session.execute(db.select(SourceCost.source, SourceCost.month)).tuples())
    db.session.add_all(SourceCost(source=source, month=month, amount_cents=cents, currency="USD",
                                  updated_by_id=admin.id if admin else None)
                       for source, cents in DEMO_SOURCE_COSTS.items() for month in wanted
                       if (source, month) not in have)


def _chunks(rows: list, size: int = ROW_CHUNK):
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _insert(table, rows: list[dict]) -> None:
    for chunk in _chunks(rows):
        db.session.execute(insert(table), chunk)


def _insert_with_ids(table, rows: list[dict]) -> list[int]:
    ids = store.reserve_ids(table, len(rows))
    for row, row_id in zip(rows, ids):
        row["id"] = row_id
    _insert(table, rows)
    return ids


# --- users and organizations -----------------------------------------------------------

def seed_team(rng: random.Random) -> list[DemoUser]:
    """The demo team; existing users with the same email are reused, not duplicated."""
    from leadflow.accounts.services import find_or_create_team, hash_password

    names = demo_names(rng, ("US",))["US"]
    password_hash = None
    team_users: list[DemoUser] = []
    used_emails: set[str] = set()
    for role, team_name, tz_name, email in TEAM_PLAN:
        first, last = rng.choice(names.first), rng.choice(names.last)
        name = f"{first} {last}"
        if email is None:
            email = f"{_ascii(first)}.{_ascii(last)}@example.com"
            while email in used_emails:
                email = f"{_ascii(first)}.{_ascii(last)}{rng.randrange(2, 99)}@example.com"
        used_emails.add(email)
        user = db.session.scalar(db.select(User).where(User.email == email))
        if user is None:
            if password_hash is None:
                password_hash = hash_password(DEMO_LOGIN[1])  # one hash: argon2 is slow on purpose
            user = User(email=email, name=name, password_hash=password_hash, role=role,
                        team=find_or_create_team(team_name), timezone=tz_name,
                        working_hours="09:00-17:30" if role == "rep" else "08:30-17:00")
            db.session.add(user)
            db.session.flush()
        team_users.append(DemoUser(user.id, user.name, user.role, user.team.name if user.team else None,
                                   _utc_offset_hours(user.timezone or "UTC")))
    return team_users


def organization_count_for(lead_count: int) -> int:
    """About 60 organizations for the 200-lead demo; more for big seeds (about 50 leads each)."""
    return max(60, min(5_000, lead_count // 50))


def seed_organizations(count: int, rng: random.Random, names: dict[str, NamePool] | None = None) -> list[DemoOrg]:
    pools = names or demo_names(rng)
    existing_names = set(db.session.scalars(db.select(Organization.name_key)))
    existing_domains = set(d for d in db.session.scalars(db.select(Organization.domain)) if d)
    countries = rng.choices(list(COUNTRY_WEIGHTS), weights=list(COUNTRY_WEIGHTS.values()), k=count)
    rows, plans = [], []
    now = utcnow()
    for code in countries:
        country = COUNTRIES[code]
        industry = rng.choice(list(INDUSTRIES))
        for _attempt in range(50):
            if industry == "Professional services" and rng.random() < 0.5:
                brand = f"{rng.choice(pools[code].last)} & {rng.choice(pools[code].last)}"
            else:
                brand = rng.choice(_BRAND_START) + rng.choice(_BRAND_END)
            sector = rng.choice(INDUSTRIES[industry])
            name = f"{brand} {sector}"
            suffix = rng.choice(country.legal_suffixes)
            full_name = f"{name} {suffix}".strip()
            domain = f"{_ascii(brand)}{_ascii(sector)[:12] if rng.random() < 0.5 else ''}.{COMPANY_TLD}"
            if full_name.lower() not in existing_names and domain not in existing_domains:
                break
        else:  # every composed name taken: number it
            full_name = f"{full_name} {len(existing_names) + 1}"
            domain = f"{_ascii(full_name)}.{COMPANY_TLD}"
        existing_names.add(full_name.lower())
        existing_domains.add(domain)
        size_band = _weighted(rng, SIZE_WEIGHTS)
        created = now - timedelta(days=HISTORY_DAYS + rng.uniform(5, 400))
        rows.append({"name": full_name, "name_key": full_name.lower(), "domain": domain, "industry": industry,
                     "size_band": size_band, "territory": country.territory, "created_at": created,
                     "updated_at": created, "version": 1})
        plans.append((full_name, domain, code, size_band, industry, country.territory, rng.choice(EMAIL_PATTERNS)))
    ids = _insert_with_ids(Organization.__table__, rows)
    return [DemoOrg(org_id, *plan) for org_id, plan in zip(ids, plans)]


def _tag_ids(names: set[str]) -> dict[str, int]:
    keys = {n.lower(): n for n in names}
    existing = dict(db.session.execute(db.select(Tag.name_key, Tag.id).where(Tag.name_key.in_(list(keys)))).all())
    missing = [{"name": name, "name_key": key} for key, name in keys.items() if key not in existing]
    if missing:
        insert_missing(Tag.__table__, missing, ["name_key"])  # a tag someone adds meanwhile is used, not doubled
        existing = dict(db.session.execute(db.select(Tag.name_key, Tag.id).where(Tag.name_key.in_(list(keys)))).all())
    return existing


def _write_chunk(chunk: _Chunk, tag_ids: dict[str, int]) -> SeedCounts:
    """The leads with their stage history and the system's timeline entries through the lead
    store; then what people logged on them (calls, e-mails, meetings, notes, forms) and the
    audit trail, the demo's own rows."""
    new = [NewLead(row, organization_name=name, tag_ids=[tag_ids[t] for t in tags])
           for row, name, tags in zip(chunk.leads, chunk.organization_names, chunk.tags)]
    ids = store.insert_past_leads(new, chunk.stage_changes, chunk.entries, lifecycle_changes=chunk.lifecycle_changes)
    act_rows, act_d_rows, audit_rows = [], [], []
    for lead_id, acts, acts_d, audits in zip(ids, chunk.activities, chunk.activities_with_details, chunk.audits):
        for row in acts:
            row["lead_id"] = lead_id
        for row in acts_d:
            row["lead_id"] = lead_id
        for row in audits:
            row["entity_id"] = lead_id
        act_rows.extend(acts)
        act_d_rows.extend(acts_d)
        audit_rows.extend(audits)
    # Rows in time order per lead, so the (lead, time) indexes fill in order.
    act_rows.sort(key=lambda r: (r["lead_id"], r["occurred_at"]))
    audit_rows.sort(key=lambda r: (r["entity_id"], r["at"]))
    _insert(Activity.__table__, act_rows)
    _insert(Activity.__table__, act_d_rows)
    _insert(AuditEntry.__table__, audit_rows)
    counts = SeedCounts(leads=len(ids), stage_changes=sum(map(len, chunk.stage_changes)),
                        activities=len(act_rows) + len(act_d_rows) + sum(map(len, chunk.entries)),
                        audit_entries=len(audit_rows), tag_links=sum(len(set(t)) for t in chunk.tags))
    light_ids = [lead_id for lead_id, light in zip(ids, chunk.light) if light]
    if light_ids:
        _light_history_in_sql(light_ids, chunk.open_stage_ids, chunk.lost_stage_id)
        # One "created" entry per lead, one timeline entry per move.
        moves = sum(len(changes) - 1 for changes, light in zip(chunk.stage_changes, chunk.light) if light)
        counts.add(SeedCounts(audit_entries=len(light_ids), activities=moves))
    return counts


# The touch behind a move out of the n-th open stage, for light-history leads: kind, subject.
LIGHT_TOUCHES = (("call", "Intro call"), ("meeting", "Discovery call"), ("email", "Proposal sent"),
                 ("meeting", "Pricing review with procurement"), ("note", "Order form signed"))


def _light_history_in_sql(lead_ids: list[int], open_stage_ids: list[int], lost_stage_id: int | None) -> None:
    """The history of light leads that follows from their rows and stage changes (which the
    lead store wrote), as INSERT … SELECT statements instead of Python rows: the "created"
    audit entry, and one timeline entry (call, meeting, email or note) at each stage change
    after the first."""
    leads, changes = Lead.__table__, StageChange.__table__
    creator = case((leads.c.source.in_(MANUAL_SOURCES), leads.c.owner_id), else_=null())
    chosen = leads.c.id.in_(lead_ids)
    users = User.__table__
    creator_name = func.coalesce(select(users.c.name).where(users.c.id == creator).scalar_subquery(),
                                 literal(DEMO_ACTOR))
    db.session.execute(insert(AuditEntry.__table__).from_select(
        ["at", "actor_id", "actor_name", "entity_type", "entity_id", "action", "new_value"],
        select(leads.c.created_at, creator, creator_name, literal("lead"), leads.c.id, literal("create"),
               func.trim(leads.c.first_name + " " + leads.c.last_name)).where(chosen),
    ))

    source, lost = changes.c.from_stage_id, changes.c.to_stage_id == lost_stage_id
    from_first = source == open_stage_ids[0]
    by_email = and_(from_first, changes.c.lead_id % 5 >= 3)  # some first responses are emails
    touches = list(zip(open_stage_ids, LIGHT_TOUCHES))
    kind = case((and_(lost, from_first), "call"), (lost, "note"), (by_email, "email"),
                *((source == stage_id, k) for stage_id, (k, _) in touches), else_="note")
    subject = case((and_(lost, from_first), "Qualification call"),
                   (and_(lost, source.in_(open_stage_ids[:2])), "Disqualified"), (lost, "Closed lost"),
                   (by_email, "Re: your enquiry"),
                   *((source == stage_id, text_) for stage_id, (_, text_) in touches), else_="Note")
    outcome = case((kind == "call", "connected"), (kind == "email", "sent"), (kind == "meeting", "held"),
                   else_=null())
    duration = case((kind == "call", 180 + (changes.c.lead_id * 37) % 900), (kind == "meeting", 2700),
                    else_=null())
    db.session.execute(insert(Activity.__table__).from_select(
        ["lead_id", "kind", "actor_id", "occurred_at", "subject", "outcome", "duration_seconds", "created_at"],
        select(changes.c.lead_id, kind, changes.c.actor_id, changes.c.at, subject, outcome, duration,
               changes.c.at).where(changes.c.lead_id.in_(lead_ids), source.is_not(None)),
    ))


ALL_TAGS = ("enterprise", "demo requested", "newsletter", "partner referral", "decision maker", "upsell",
            "webinar", "trade show")


def seed_leads(count: int, *, users, organizations, stages, rng: random.Random, now: datetime | None = None,
               history: str | None = None, full_recent: int | None = None,
               names: dict[str, NamePool] | None = None) -> SeedCounts:
    """Insert ``count`` leads with their stage changes, activities, audit entries and tags (bulk).

    ``history="full"`` gives every lead its whole story; ``"light"`` keeps it for the newest
    ``full_recent`` leads (default ``FULL_HISTORY_LIMIT // 4``: the ones the list shows first)
    and gives older ones only their stage changes, the touch behind each move and the
    "created" audit entry. Writes with Core inserts; the caller commits.
    """
    history = history or ("full" if count <= FULL_HISTORY_LIMIT else "light")
    if history not in ("full", "light"):
        raise ValueError("history must be 'full' or 'light'")
    counts = SeedCounts(history=history)
    if count <= 0 or not organizations:
        return counts
    factory = _LeadFactory(count, users=users, organizations=organizations, stages=stages, rng=rng,
                           now=now or utcnow(), names=names)
    tag_ids = _tag_ids(set(ALL_TAGS))
    created = factory.created_times(count)
    orgs = rng.choices(factory.orgs, weights=factory.org_weights, k=count)
    sources = factory.sources(count)
    if full_recent is None:
        full_recent = FULL_HISTORY_LIMIT // 4
    full_from = 0 if history == "full" else max(0, count - full_recent)

    with _bulk_load_cache(), store.indexes_built_after_load(enabled=count >= BULK_INDEX_THRESHOLD), \
            _cyclic_gc_paused():
        for start in range(0, count, LEAD_CHUNK):
            chunk = _Chunk(open_stage_ids=[sid for sid, _ in factory.open],
                           lost_stage_id=factory.lost[0] if factory.lost else None)
            for i in range(start, min(start + LEAD_CHUNK, count)):
                factory.build(created[i], orgs[i], sources[i], i >= full_from, chunk)
            counts.add(_write_chunk(chunk, tag_ids))
    return counts


@contextmanager
def _cyclic_gc_paused():
    """No cyclic garbage collection while millions of short-lived dicts are made: the rows hold
    no reference cycles, and collecting over and over costs about a third of the build time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def _bulk_load_cache(megabytes: int = 128):
    """On SQLite, a bigger page cache while seeding (the indexes stay in memory), then the old size."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    previous = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size={-1024 * int(megabytes)}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size={int(previous)}")


def seed_capture_form() -> None:
    """The public form at /f/demo-contact, so the capture path can be tried at once (kept if it exists)."""
    from leadflow.accounts.models import Team
    from leadflow.capture.models import CaptureForm

    if db.session.scalar(db.select(CaptureForm.id).where(CaptureForm.slug == "demo-contact")) is not None:
        return
    inbound = db.session.scalar(db.select(Team.id).where(Team.name == "Inbound"))
    fields = [
        {"key": "first_name", "label": "First name", "required": True, "custom": False},
        {"key": "last_name", "label": "Last name", "required": False, "custom": False},
        {"key": "email", "label": "Work email", "required": True, "custom": False},
        {"key": "phone", "label": "Phone", "required": False, "custom": False},
        {"key": "organization", "label": "Company", "required": False, "custom": False},
        {"key": "message", "label": "How can we help?", "required": False, "custom": True, "type": "textarea"},
    ]
    db.session.add(CaptureForm(
        name="Contact sales", slug="demo-contact", active=True, fields=fields, button_label="Send",
        consent_text="Yes, send me occasional product news by email. I can unsubscribe at any time.",
        thank_you_message="Thank you! Someone from our sales team will reply within one working day.",
        default_source="web form", owner_rule="round_robin" if inbound else "none", team_id=inbound,
        rotation_counter=0, submission_count=0,
    ))


DEMO_SCORING_RULES = (  # (name, category, points, extra columns)
    ("Decision maker", "fit", 15, {"field": "title", "operator": "contains", "value": "director"}),
    ("Executive", "fit", 20, {"field": "title", "operator": "contains", "value": "chief"}),
    ("Mid-size or larger", "fit", 10, {"field": "size_band", "operator": "in", "value": "51-200, 201-1000, 1000+"}),
    ("Came by referral", "fit", 10, {"field": "source", "operator": "equals", "value": "referral"}),
    ("Big deal", "fit", 15, {"field": "value", "operator": "gte", "value": "20000"}),
    ("Filled in a form", "engagement", 10, {"activity_kind": "form_submission", "cap": 30}),
    ("Looked at pricing", "engagement", 8, {"activity_kind": "website_visit", "contains": "pricing", "cap": 24}),
    ("Took a meeting", "engagement", 15, {"activity_kind": "meeting", "cap": 30}),
    ("Gone quiet", "inactivity", -15, {"days": 30}),
)
DEMO_SCORING_SETTINGS = {"warm_at": 40, "hot_at": 70, "lifecycle_auto": True, "mql_at": 50, "sql_at": 80,
                         "half_life_days": 0}  # the thresholds the seeded scores were made with


def seed_scoring_rules() -> int:
    """A handful of sensible scoring rules and thresholds (only when there are no rules yet).
    The seeded leads keep the scores they were made with; "Rescore all leads" on the scoring
    page works them out again from these rules. Returns how many rules it made."""
    from leadflow.governance.models import Setting
    from leadflow.governance.settings import write_setting
    from leadflow.scoring.models import ScoringRule
    from leadflow.scoring.services import SETTINGS_KEY

    if db.session.scalar(db.select(func.count(ScoringRule.id))):
        return 0
    for position, (name, category, points, extra) in enumerate(DEMO_SCORING_RULES, start=1):
        db.session.add(ScoringRule(name=name, category=category, points=points, active=True, position=position, **extra))
    if db.session.get(Setting, SETTINGS_KEY) is None:
        write_setting(SETTINGS_KEY, dict(DEMO_SCORING_SETTINGS))
    db.session.flush()
    return len(DEMO_SCORING_RULES)


def score_leads_quietly(batch: int = 1000) -> int:
    """Give every lead the score, breakdown, temperature and lifecycle the active scoring
    rules give it, as "Rescore all leads" would, but without a timeline entry or an audit
    entry per lead (a freshly seeded workspace has no score history to tell). Returns how
    many leads it scored.

    Written with ``store.update_rows`` and announced to nobody: a rescore would write the
    score history this skips, and a workflow rule on "temperature changes" (the demo's own
    "hot lead" rule, on a second seeding) would give every seeded hot lead a task and its
    owner an e-mail for a temperature it always had."""
    from sqlalchemy.orm import joinedload, selectinload

    from leadflow.scoring.services import active_rules, computed_scores, score_values, scoring_settings

    rules = active_rules()
    if not rules:
        return 0
    settings = scoring_settings()
    now = utcnow()
    after, done = 0, 0
    while True:
        leads = db.session.scalars(
            select(Lead).options(joinedload(Lead.organization), selectinload(Lead.tags))
            .where(Lead.id > after).order_by(Lead.id).limit(batch)).all()
        if not leads:
            return done
        rows = [{"id": lead.id, **score_values(lead, total, breakdown, settings)}
                for lead, total, breakdown in computed_scores(leads, rules, settings, now)]
        store.update_rows(rows, announce=None)
        after, done = leads[-1].id, done + len(leads)
        for lead in leads:  # a large workspace is scored a batch at a time, not held in the session
            db.session.expunge(lead)


def seed_routing_rules() -> int:
    """Inbound web leads go round-robin to the Inbound team; the manager is the fallback owner
    (only when there are no routing rules yet). Returns how many rules it made."""
    from leadflow.accounts.models import Team
    from leadflow.governance.models import Setting
    from leadflow.governance.settings import write_setting
    from leadflow.routing.models import RoutingRule
    from leadflow.routing.services import FALLBACK_SETTING

    team = db.session.scalar(db.select(Team).where(Team.name == "Inbound"))
    if team is None or db.session.scalar(db.select(func.count(RoutingRule.id))):
        return 0
    db.session.add(RoutingRule(name="Inbound web leads", position=1, active=True, rotation=0,
                               conditions={"sources": ["website", "web form"]}, target_kind="team",
                               target_team_id=team.id, strategy="round_robin"))
    manager = db.session.scalar(db.select(User).where(User.role == "manager", User.active.is_(True)).order_by(User.id))
    if manager is not None and db.session.get(Setting, FALLBACK_SETTING) is None:
        write_setting(FALLBACK_SETTING, manager.id)
    db.session.flush()
    return 1


DEMO_TASKS = (  # (kind, title, hours from now; negative is overdue)
    ("call", "Call back about the proposal", -50), ("email", "Send the pricing sheet", -5),
    ("call", "Check in after the demo", 2), ("meeting", "Discovery meeting", 5),
    ("todo", "Prepare the contract draft", 30), ("email", "Share the case study", 75),
)


def seed_tasks(users: list[DemoUser], rng: random.Random, now: datetime | None = None) -> int:
    """Next steps for each writer's open leads (some overdue, some due today, some later),
    so "My work" and the board's next-task line have something to show. Leaves some leads
    without a next step on purpose. Returns how many tasks it made."""
    from leadflow.activities.models import Task
    from leadflow.pipeline.models import Stage

    now = now or datetime.now(timezone.utc)
    made = 0
    for user in users:
        if user.role not in ("admin", "manager", "rep"):
            continue
        owner_filter = Lead.owner_id == user.id if user.role == "rep" else Lead.owner_id.is_not(None)
        lead_ids = list(db.session.scalars(
            db.select(Lead.id).join(Stage, Lead.stage_id == Stage.id)
            .where(owner_filter, Stage.kind == "open", Lead.deleted_at.is_(None))
            .order_by(Lead.id.desc()).limit(len(DEMO_TASKS) + 3)))
        rng.shuffle(lead_ids)
        for lead_id, (kind, title, hours) in zip(lead_ids, DEMO_TASKS):
            due = now + timedelta(hours=hours, minutes=rng.choice((0, 15, 30)))
            # Overdue ones count as reminded already: a fresh demo should not send a burst of e-mail.
            db.session.add(Task(lead_id=lead_id, kind=kind, title=title, due_at=due, assignee_id=user.id,
                                created_by_id=user.id, remind_at=due if due > now else None))
            made += 1
    db.session.flush()
    return made


def seed_workflow_rules() -> int:
    """One example workflow rule (only when there are none): a lead that turns hot gets a call
    task for its owner, due within two hours, and the owner an e-mail."""
    import secrets

    from leadflow.workflows.models import WorkflowRule

    if db.session.scalar(db.select(func.count(WorkflowRule.id))):
        return 0
    db.session.add(WorkflowRule(
        name="Hot lead: call within two hours", active=True, trigger="field_changed",
        trigger_config={"field": "temperature"}, secret=secrets.token_hex(32),
        conditions=[{"field": "temperature", "operator": "is", "value": "hot"}],
        actions=[{"type": "create_task", "kind": "call", "title": "Call the hot lead", "due_hours": 2,
                  "assignee": "owner"},
                 {"type": "notify_owner", "message": "This lead just turned hot: call within two hours."}],
    ))
    db.session.flush()
    return 1


def seed_sequence() -> int:
    """One example nurture (only when there are no templates): a welcome e-mail, a wait, a
    follow-up and a call task for the owner. Leads are enrolled by hand or by a rule."""
    from leadflow.sequences.models import EmailTemplate, Sequence, SequenceStep

    if db.session.scalar(db.select(func.count(EmailTemplate.id))):
        return 0
    welcome = EmailTemplate(name="Welcome", subject="Welcome, {{ first_name }}",
                            body="Hi {{ first_name }},\n\nThanks for your interest. Our getting-started guide is at "
                                 "https://example.com/guide\n\n{{ owner_signature }}")
    follow_up = EmailTemplate(name="Follow-up", subject="Any questions, {{ first_name }}?",
                              body="Hi {{ first_name }},\n\nDid the guide help? Reply to this e-mail and I will "
                                   "answer.\n\n{{ owner_signature }}")
    sequence = Sequence(name="New lead nurture", active=True, exit_on_reply=True, exit_on_won_lost=True,
                        exit_on_stage_change=False, exit_score_at_least=80)
    sequence.steps = [SequenceStep(position=0, kind="send", template=welcome),
                      SequenceStep(position=1, kind="wait", wait_amount=3, wait_unit="days"),
                      SequenceStep(position=2, kind="send", template=follow_up),
                      SequenceStep(position=3, kind="wait", wait_amount=2, wait_unit="days"),
                      SequenceStep(position=4, kind="task", task_title="Call to follow up on the nurture e-mails")]
    db.session.add_all([welcome, follow_up, sequence])
    db.session.flush()
    return 1


def seed_demo(lead_count: int = 200) -> str:
    """Seed the demo workspace (team, pipeline, organizations, leads with history); returns a summary."""
    from leadflow.pipeline.services import ensure_default_pipeline

    started = time.perf_counter()
    existing = db.session.scalar(db.select(func.count(Lead.id))) or 0
    pipeline = ensure_default_pipeline()
    users = seed_team(random.Random(DEMO_SEED))  # the same team every time: found, not duplicated
    rng = random.Random(DEMO_SEED + existing)  # a second seeding adds different leads
    names = demo_names(rng) if lead_count else {}
    orgs = seed_organizations(organization_count_for(lead_count), rng, names) if lead_count else []
    counts = seed_leads(lead_count, users=users, organizations=orgs, stages=list(pipeline.stages), rng=rng,
                        names=names)
    seed_capture_form()
    seed_exchange_rates(users)
    seed_source_costs(users)
    seed_tasks(users, rng)
    seed_scoring_rules()
    db.session.flush()
    score_leads_quietly()
    seed_routing_rules()
    seed_workflow_rules()
    seed_sequence()
    db.session.flush()
    refresh_statistics(db.session)
    teams = len({u.team for u in users if u.team})
    seconds = time.perf_counter() - started
    return (f"Seeded the demo workspace in {seconds:.1f} s: {len(users)} users in {teams} teams, "
            f"{len(orgs):,} organizations, {counts.leads:,} leads with {counts.stage_changes:,} stage changes, "
            f"{counts.activities:,} activities and {counts.audit_entries:,} audit entries"
            f"{' (light history)' if counts.history == 'light' else ''}.")
