"""The lead factory: one demo lead and its story (its walk through the pipeline, the calls,
e-mails and meetings on the way, its audit trail) as plain rows, built fast and in bulk."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timezone

from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow_demo.people import (
    CAMPAIGNS, COUNTRIES, DEAL_RANGES, DEMO_ACTOR, DISCOVERY_BODIES, DISQUALIFY_REASONS, EVENTS, FORM_MESSAGES,
    FORMS, HISTORY_DAYS, INTRO_BODIES, LANDING_PAGES, LOST_REASONS, MANUAL_SOURCES, NOTES, OUTBOUND_SOURCES,
    REFERRERS, SITE, SOURCE_WEIGHTS, TITLES, WEB_SOURCES, WON_REASONS, DemoOrg, DemoUser, NamePool, _ascii,
    _PhonePool, _utc_offset_hours, demo_names,
)


# --- leads --------------------------------------------------------------------------

def _stage_plan(stages) -> tuple[list, object, object]:
    """Open stages in board order, and the won and lost stage (None when a pipeline has none)."""
    ordered = sorted(stages, key=lambda s: s.position)
    open_stages = [s for s in ordered if s.kind == "open"]
    if not open_stages:
        raise ValueError("The pipeline has no open stage to put demo leads in.")
    won = next((s for s in ordered if s.kind == "won"), None)
    lost = next((s for s in ordered if s.kind == "lost"), None)
    return open_stages, won, lost


# Chance to move on from the n-th open stage (to the next one, or to Won from the last)
# and to be lost there; what is left stays put. Then the days a move takes.
ADVANCE = (0.9, 0.72, 0.7, 0.68, 0.65)
LOSE = (0.04, 0.1, 0.12, 0.13, 0.22)
DWELL_DAYS = ((0.05, 3.0), (2.0, 12.0), (3.0, 16.0), (3.0, 14.0), (5.0, 24.0))
# Lifecycle a lead reaches on entering the n-th open stage.
STAGE_LIFECYCLE = ("lead", "lead", "sql", "opportunity", "opportunity")


def _as_demo_users(users) -> list[DemoUser]:
    result = []
    for u in users:
        if isinstance(u, DemoUser):
            result.append(u)
        else:
            team = u.team.name if getattr(u, "team", None) else None
            offset = _utc_offset_hours(getattr(u, "timezone", None) or "UTC")
            result.append(DemoUser(u.id, u.name, u.role, team, offset))
    return result


class _Owners:
    """Who owns what: inbound reps take web leads, outbound reps the rest, the manager some big deals."""

    def __init__(self, users: list[DemoUser]):
        writers = [u for u in users if u.role in ("rep", "manager", "admin")]
        reps = [u for u in users if u.role == "rep"]
        self.inbound = [u for u in reps if (u.team or "").lower() == "inbound"] or reps or writers
        self.outbound = [u for u in reps if (u.team or "").lower() == "outbound"] or reps or writers
        self.managers = [u for u in users if u.role == "manager"] or writers
        self.anyone = reps or writers

    def pick(self, rng: random.Random, source: str, size_band: str) -> DemoUser | None:
        if not self.anyone:
            return None
        if size_band == "1000+" and rng.random() < 0.4 or source == "partner" and rng.random() < 0.5:
            return rng.choice(self.managers)
        if source in WEB_SOURCES or source == "api":
            return rng.choice(self.inbound)
        if source in OUTBOUND_SOURCES:
            return rng.choice(self.outbound) if rng.random() < 0.75 else rng.choice(self.anyone)
        return rng.choice(self.anyone)


DAY = 86400.0
WORK_START = 9 * 3600.0
WORK_END = 17.5 * 3600.0


def _working_time(ts: float, offset_seconds: float, rng: random.Random) -> float:
    """The epoch time ``ts`` moved into the owner's next working hours (09:00–17:30, Monday–Friday)."""
    jitter = rng.randint(0, 240) * 60  # drawn whether needed or not: the hour must not change what comes next
    day, seconds = divmod(ts + offset_seconds, DAY)
    weekday = (int(day) + 3) % 7  # 1970-01-01 was a Thursday
    if weekday < 5:
        if WORK_START <= seconds < WORK_END:
            return ts
        if seconds >= WORK_END:
            day, weekday = day + 1, (weekday + 1) % 7
    while weekday >= 5:
        day, weekday = day + 1, (weekday + 1) % 7
    return day * DAY + WORK_START + jitter - offset_seconds


def _money(cents: int) -> str:
    return f"{cents // 100:,}.{cents % 100:02d}"


@dataclass
class _Chunk:
    open_stage_ids: list[int] = field(default_factory=list)
    lost_stage_id: int | None = None
    leads: list[dict] = field(default_factory=list)
    organization_names: list[str] = field(default_factory=list)
    entries: list[list[dict]] = field(default_factory=list)  # what the system wrote on the timeline
    stage_changes: list[list[dict]] = field(default_factory=list)
    lifecycle_changes: list[list[dict]] = field(default_factory=list)
    activities: list[list[dict]] = field(default_factory=list)
    activities_with_details: list[list[dict]] = field(default_factory=list)
    audits: list[list[dict]] = field(default_factory=list)
    tags: list[list[str]] = field(default_factory=list)
    light: list[bool] = field(default_factory=list)


class _LeadFactory:
    """Builds one lead and its history as plain rows. Times are epoch seconds until a row is made."""

    def __init__(self, count: int, *, users, organizations, stages, rng: random.Random, now: datetime,
                 names: dict[str, NamePool] | None = None):
        self.rng = rng
        self.now = now.timestamp()
        self.users = _as_demo_users(users)
        self.user_names = {u.id: u.name for u in self.users}
        self.owners = _Owners(self.users)
        self.orgs = list(organizations)
        open_stages, won, lost = _stage_plan(stages)
        self.open = [(s.id, s.name) for s in open_stages]
        self.won = (won.id, won.name) if won else None
        self.lost = (lost.id, lost.name) if lost else None
        self.pipeline_id = open_stages[0].pipeline_id
        self.names = names or demo_names(rng)
        # Bigger companies have more contacts: weight by size band and a long tail.
        size_factor = {"1-10": 0.6, "11-50": 1.0, "51-200": 1.6, "201-1000": 2.2, "1000+": 3.0}
        self.org_weights = [size_factor[o.size_band] / (1 + (i % 23) ** 0.7) for i, o in enumerate(self.orgs)]
        by_country: dict[str, float] = {}
        for org, weight in zip(self.orgs, self.org_weights):
            by_country[org.country] = by_country.get(org.country, 0) + weight
        total = sum(by_country.values()) or 1
        self.phones = _PhonePool(rng, {c: int(count * w / total) + 20 for c, w in by_country.items()})
        self.emails_used: set[str] = set(
            db.session.scalars(db.select(Lead.email_key).where(Lead.email_key.is_not(None)))
        ) if count else set()
        self.titles = [t for t, _ in TITLES]
        self.title_points = dict(TITLES)
        self.ascii_names: dict[str, str] = {}

    def created_times(self, count: int) -> list[float]:
        """Creation times, oldest first: more leads lately (a growing team), the oldest ~HISTORY_DAYS ago."""
        span = HISTORY_DAYS * DAY
        rnd = self.rng.random
        return sorted(self.now - span * rnd() ** 1.5 - 60 for _ in range(count))

    def sources(self, count: int) -> list[str]:
        return self.rng.choices(list(SOURCE_WEIGHTS), weights=list(SOURCE_WEIGHTS.values()), k=count)

    def _ascii(self, name: str) -> str:
        value = self.ascii_names.get(name)
        if value is None:
            value = self.ascii_names[name] = _ascii(name)
        return value

    @staticmethod
    def _touches(act, rng, position, target, t, at, offset, first_touch, first, last, form, org, owner):
        """The calls, emails, meetings and notes behind one move (full history); returns the
        time of the first response so far."""
        if target == -1:
            if position == 0:
                act("call", at, "Qualification call", outcome="connected", duration=rng.randint(60, 400))
            act("note", at, "Closed lost" if position >= 2 else "Disqualified")
        elif position == 0:
            attempt = _working_time(t + (at - t) * rng.uniform(0.1, 0.6), offset, rng)
            if attempt < at and rng.random() < 0.45:
                outcome = rng.choice(("no answer", "left voicemail"))
                act("call", attempt, "Call attempt", outcome=outcome,
                    duration=rng.randint(5, 25) if outcome == "no answer" else rng.randint(30, 70))
                first_touch = min(first_touch, attempt)
            if rng.random() < 0.6:
                act("call", at, "Intro call", outcome="connected", duration=rng.randint(180, 1200),
                    body=rng.choice(INTRO_BODIES).format(first=first))
            else:
                act("email", at, f"Re: {form}" if form else f"LeadFlow for {org.name}", outcome="sent")
        elif position == 1:
            act("meeting", at, f"Discovery call with {org.name}", outcome="held",
                duration=rng.choice((1800, 2700, 3600)),
                body=rng.choice(DISCOVERY_BODIES).format(n=rng.randint(3, 40)))
        elif position == 2:
            act("email", at, f"Proposal for {org.name}", outcome="sent", body="Proposal and order form attached.")
        elif position == 3:
            act("meeting", at, "Pricing review with procurement", outcome="held", duration=2700)
        else:
            act("note", at, "Order form signed", body=f"Signed by {first} {last}.")
        if position >= 1 and rng.random() < 0.5:  # a follow-up in between
            follow = _working_time(t + (at - t) * rng.uniform(0.2, 0.8), offset, rng)
            if follow < at:
                if rng.random() < 0.5:
                    act("email", follow, "Following up", outcome="sent")
                else:
                    act("note", follow, "Note", body=rng.choice(NOTES).format(
                        first=first, industry=org.industry.lower(), team=owner.team or "sales"))
        return first_touch

    def actor_name(self, user_id: int | None) -> str:
        """The audit log's actor_name: the demo user's, or the demo's own for what automation did."""
        return self.user_names.get(user_id) or DEMO_ACTOR

    def build(self, created: float, org: DemoOrg, source: str, full: bool, chunk: _Chunk) -> None:
        """Add one lead and its history rows to ``chunk``. With ``full`` False only the lead, its
        stage moves and a web form's submission are rows here; the rest comes from
        ``_light_history_in_sql``. The lead's first response and last activity agree either way.
        The timeline entries the system writes (created, assigned, moved) go apart from what
        people logged: the lead store writes those with the lead."""
        # The lead's own generator, drawn from the demo's: how far its story got by now (which
        # moves fall before this moment, which times working hours push on) changes how many
        # numbers it draws, and that must not change the leads after it.
        rng = random.Random(self.rng.getrandbits(64))
        now = self.now
        dt = _datetime
        names = self.names[org.country]
        first, last = rng.choice(names.first), rng.choice(names.last)
        a_first, a_last = self._ascii(first), self._ascii(last)
        title = rng.choice(self.titles)
        owner = self.owners.pick(rng, source, org.size_band)
        offset = owner.utc_offset_hours * 3600 if owner else 0.0
        owner_id = owner.id if owner else None
        is_web = source in WEB_SOURCES
        form = rng.choice(FORMS) if source == "web form" else None
        creator = None if is_web or source in ("api", "partner") else (
            owner_id if owner_id and rng.random() < 0.8 else None)
        created_at = dt(created)

        # Contact details: an address at the company's domain, a number valid for its country.
        email = phone = None
        if source == "web form" or rng.random() < 0.94:
            local = org.email_pattern.format(first=a_first, last=a_last, f=a_first[:1], l=a_last[:1])
            email = f"{local}@{org.domain}"
            n = 2
            while email in self.emails_used:
                email = f"{local}{n}@{org.domain}"
                n += 1
            self.emails_used.add(email)
        if email is None or rng.random() < 0.7:
            phone = self.phones.take(org.country)
        if email is None and phone is None:
            email = f"{a_first}.{a_last}.{len(self.emails_used)}@{org.domain}"
            self.emails_used.add(email)

        open_stages = self.open
        acts: list[dict] = []
        acts_d: list[dict] = []
        entries: list[dict] = []
        if full:
            stage_changes = [{"from_stage_id": None, "to_stage_id": open_stages[0][0], "actor_id": creator,
                              "at": created_at}]
            audits: list[dict] = [{"at": created_at, "actor_id": creator, "actor_name": self.actor_name(creator),
                                   "entity_type": "lead",
                                   "action": "create", "field": None, "old_value": None,
                                   "new_value": f"{first} {last}"}]
        else:  # the first stage change's actor is set once the owner is known; "create" comes in SQL
            stage_changes = [{"from_stage_id": None, "to_stage_id": open_stages[0][0], "actor_id": None,
                              "at": created_at}]
            audits = []
        tags: list[str] = []
        first_touch = None  # first call, email or meeting by a person: the first response
        last_touch = None  # latest call, email, meeting, note, form or visit

        def act(kind, ts, subject, actor=owner_id, body=None, outcome=None, duration=None):
            if full:  # light history: _light_history_in_sql writes the touch behind each move
                at = dt(ts)
                (entries if kind in SYSTEM_ENTRIES else acts).append(
                    {"kind": kind, "actor_id": actor, "occurred_at": at, "subject": subject, "body": body,
                     "outcome": outcome, "duration_seconds": duration, "created_at": at})

        def audit(ts, fieldname, old, new, actor=owner_id):
            if full:
                audits.append({"at": dt(ts), "actor_id": actor, "actor_name": self.actor_name(actor),
                               "entity_type": "lead", "action": "update",
                               "field": fieldname, "old_value": old, "new_value": new})

        if form:
            acts_d.append({"kind": "form_submission", "actor_id": None, "occurred_at": created_at,
                           "subject": f"Submitted “{form}”",
                           "body": rng.choice(FORM_MESSAGES).format(n=rng.randint(3, 40)),
                           "outcome": None, "duration_seconds": None, "created_at": created_at,
                           "details": {"form": form, "page": SITE + rng.choice(LANDING_PAGES)}})
            last_touch = created
        elif source == "website" and full:
            page = rng.choice(LANDING_PAGES)
            acts_d.append({"kind": "website_visit", "actor_id": None, "occurred_at": created_at,
                           "subject": f"Visited {page}", "body": None, "outcome": None, "duration_seconds": None,
                           "created_at": created_at,
                           "details": {"url": SITE + page, "pages_viewed": rng.randint(1, 9)}})
            last_touch = created
        if full:
            act("system", created, "Imported from CSV" if source == "import" else "Lead created", actor=creator)
        if owner_id and creator != owner_id:
            assigned = created + rng.randint(5, 600)
            if full:
                act("assignment", assigned, f"Assigned to {owner.name}", actor=None)
            audit(assigned, "owner", None, owner.name, actor=None)

        # The walk through the pipeline, one move at a time, until it stops or reaches today.
        position = 0
        t = created
        lifecycle = "subscriber" if source in ("website", "social") and not form and rng.random() < 0.35 else "lead"
        lifecycles = [{"from_lifecycle": None, "to_lifecycle": lifecycle, "actor_id": None, "at": created_at}]

        def change_lifecycle(ts, new):
            lifecycles.append({"from_lifecycle": lifecycles[-1]["to_lifecycle"], "to_lifecycle": new,
                               "actor_id": owner_id, "at": dt(ts)})
        outcome_stage = None  # "won" or "lost"
        lost_from = 0
        value_cents = close_ts = None
        last_open = len(open_stages) - 1
        while owner_id is not None:
            step = min(position, 4)
            r = rng.random()
            if r < ADVANCE[step]:
                target = position + 1
            elif r < ADVANCE[step] + LOSE[step]:
                target = -1  # lost
            else:
                break
            if (target == -1 and self.lost is None) or (target > last_open and self.won is None):
                break  # a pipeline without a lost (or won) stage: the lead stays where it is
            if position == 0 and rng.random() < 0.7:
                dwell = rng.expovariate(5.0)  # most first responses within hours
            else:
                dwell = rng.uniform(*DWELL_DAYS[step])
            at = _working_time(t + dwell * DAY, offset, rng)
            if at >= now:
                break
            # What happened on the way there (light history: written later in SQL from the moves).
            if position == 0:
                first_touch = first_touch or at
            if full:
                first_touch = self._touches(act, rng, position, target, t, at, offset, first_touch,
                                            first, last, form, org, owner)
            last_touch = at

            from_id, from_name = open_stages[position]
            if target == -1:
                to_id, to_name = self.lost
            elif target > last_open:
                to_id, to_name = self.won
            else:
                to_id, to_name = open_stages[target]
            stage_changes.append({"from_stage_id": from_id, "to_stage_id": to_id, "actor_id": owner_id,
                                  "at": dt(at)})
            if full:
                act("stage_change", at, f"Moved from {from_name} to {to_name}")
            audit(at, "stage", from_name, to_name)
            t = at
            if target == -1:
                outcome_stage, lost_from = "lost", position
                break
            if target > last_open:
                outcome_stage = "won"
                break
            position = target
            new_lifecycle = STAGE_LIFECYCLE[min(position, 4)]
            if position == 1 and rng.random() < 0.5:
                new_lifecycle = "mql"
            if new_lifecycle != lifecycle:
                if full:
                    audit(at, "lifecycle", lifecycle, new_lifecycle)
                change_lifecycle(at, new_lifecycle)
                lifecycle = new_lifecycle
            if value_cents is None and (position == 2 or (position == 1 and rng.random() < 0.3)):
                low, high, step_size = DEAL_RANGES[org.size_band]
                value_cents = rng.randrange(low, high, step_size) * 100
                close_ts = at + rng.randint(30, 110) * DAY
                if full:
                    audit(at, "value", None, _money(value_cents))
                    audit(at, "expected_close_date", None, dt(close_ts).date().isoformat())

        stage_entered = t
        # Touches after the last move, for leads still open.
        if full and outcome_stage is None and position > 0:
            for _ in range(rng.randint(0, 2)):
                at = _working_time(t + rng.uniform(1, 9) * DAY, offset, rng)
                if at >= now:
                    break
                if rng.random() < 0.6:
                    act("email", at, "Follow-up", outcome="sent")
                else:
                    outcome = rng.choice(("connected", "no answer", "left voicemail"))
                    act("call", at, "Follow-up call", outcome=outcome,
                        duration=rng.randint(120, 900) if outcome == "connected" else rng.randint(5, 60))
                last_touch = t = at

        # Where it ended.
        disqualified_reason = won_lost_reason = None
        if outcome_stage == "won":
            stage_id = self.won[0]
            if full and lifecycle != "customer":
                audit(stage_entered, "lifecycle", lifecycle, "customer")
            if lifecycle != "customer":
                change_lifecycle(stage_entered, "customer")
            lifecycle = "customer"
            won_lost_reason = rng.choice(WON_REASONS)
            if value_cents is None:
                low, high, step_size = DEAL_RANGES[org.size_band]
                value_cents = rng.randrange(low, high, step_size) * 100
            close_ts = stage_entered
            if rng.random() < 0.3:
                tags.append("upsell")
        elif outcome_stage == "lost":
            stage_id = self.lost[0]
            if lost_from < 2 or rng.random() < 0.25:
                disqualified_reason = rng.choice(DISQUALIFY_REASONS if lost_from < 2 else LOST_REASONS)
                if full:
                    audit(stage_entered, "lifecycle", lifecycle, "disqualified")
                    audit(stage_entered, "disqualified_reason", None, disqualified_reason)
                change_lifecycle(stage_entered, "disqualified")
                lifecycle = "disqualified"
            won_lost_reason = rng.choice(LOST_REASONS) if lost_from >= 2 else disqualified_reason
            close_ts = None
        else:
            stage_id = open_stages[position][0]
            if value_cents is not None and close_ts is None:
                close_ts = stage_entered + rng.randint(20, 80) * DAY
        if won_lost_reason and full:
            audit(stage_entered, "won_lost_reason", None, won_lost_reason)

        title_points = self.title_points[title]

        # Tags.
        if org.size_band == "1000+":
            tags.append("enterprise")
        if form == "Request a demo":
            tags.append("demo requested")
        if source == "partner":
            tags.append("partner referral")
        if title_points >= 20 and rng.random() < 0.4:
            tags.append("decision maker")
        if source == "event":
            tags.append(rng.choice(("webinar", "trade show")))

        # Where a web lead came from.
        utm_source = utm_medium = utm_campaign = utm_term = utm_content = referrer = landing = None
        if is_web:
            landing = SITE + rng.choice(LANDING_PAGES)
            if source == "advertising":
                network = rng.choice(("google", "linkedin", "bing", "capterra"))
                utm_source, utm_medium = network, "paid-social" if network == "linkedin" else "cpc"
                utm_campaign = rng.choice(CAMPAIGNS)
                utm_term = "crm for small teams" if network in ("google", "bing") else None
                utm_content = rng.choice(("ad-a", "ad-b", "carousel"))
                referrer = REFERRERS[network]
            elif source == "social":
                network = rng.choice(("linkedin", "twitter", "facebook"))
                utm_source, utm_medium, utm_campaign = network, "social", rng.choice(CAMPAIGNS)
                referrer = REFERRERS[network]
            elif rng.random() < 0.35:
                utm_source, utm_medium, utm_campaign = "newsletter", "email", "newsletter-monthly"
                utm_content = rng.choice(("header", "footer-cta"))
                tags.append("newsletter")
            else:
                referrer = rng.choice(("https://www.google.com/", "https://duckduckgo.com/", None))
        consent = False
        consent_source = None
        if lifecycle == "subscriber" or "newsletter" in tags:
            consent, consent_source = True, "Newsletter sign-up"
        elif form and rng.random() < 0.55:
            consent, consent_source = True, f"Web form “{form}”: marketing checkbox"
        elif source == "event" and rng.random() < 0.4:
            consent, consent_source = True, f"Badge scan at {rng.choice(EVENTS)}"
        if lifecycle == "subscriber" and "newsletter" not in tags:
            tags.append("newsletter")

        if (owner_id is not None and creator is None and position == 0 and outcome_stage is None
                and rng.random() < 0.7):
            # Fresh leads nobody has picked up yet: the unassigned queue the team works from.
            owner_id = None
            entries = [a for a in entries if a["kind"] != "assignment"]
            audits = [a for a in audits if a["field"] != "owner"]

        updated = max(created, stage_entered, last_touch or created)
        chunk.leads.append({
            "first_name": first, "last_name": last, "email": email,
            "email_key": email.lower() if email else None, "phone": phone, "title": title,
            "country": org.country, "organization_id": org.id, "source": source,
            "utm_source": utm_source, "utm_medium": utm_medium, "utm_campaign": utm_campaign,
            "utm_term": utm_term, "utm_content": utm_content, "referrer": referrer, "landing_page": landing,
            "owner_id": owner_id, "lifecycle": lifecycle, "disqualified_reason": disqualified_reason,
            "temperature": "cold", "score": 0, "score_breakdown": None,  # scored by the rules at the end
            "pipeline_id": self.pipeline_id, "stage_id": stage_id, "value_cents": value_cents,
            "currency": COUNTRIES[org.country].currency,
            "expected_close_date": dt(close_ts).date() if close_ts is not None else None,
            "won_lost_reason": won_lost_reason,
            "marketing_consent": consent, "consent_at": created_at if consent else None,
            "consent_source": consent_source, "created_at": created_at, "updated_at": dt(updated),
            "first_response_at": dt(first_touch) if first_touch else None,
            "last_activity_at": dt(last_touch) if last_touch else None,
            "stage_entered_at": dt(stage_entered), "deleted_at": None,
            "board_rank": -stage_entered,  # the card moved last sits on top of its column
            "version": 1,
        })
        if not full:  # as _light_history_in_sql's "create" audit entry has it
            stage_changes[0]["actor_id"] = owner_id if source in MANUAL_SOURCES else None
        chunk.organization_names.append(org.name)
        chunk.entries.append(entries)
        chunk.light.append(not full)
        chunk.stage_changes.append(stage_changes)
        chunk.lifecycle_changes.append(lifecycles)
        chunk.activities.append(acts)
        chunk.activities_with_details.append(acts_d)
        chunk.audits.append(audits)
        chunk.tags.append(tags)


# Timeline entries the system writes, not a person: they go through the lead store with the lead.
SYSTEM_ENTRIES = ("system", "assignment", "stage_change")


def _datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)
