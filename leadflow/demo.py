"""The demo workspace: a small sales team with a believable pipeline and its history.

``make run`` seeds it into an empty database (``flask --app wsgi leadflow seed-demo
--if-empty``) and prints ``DEMO_LOGIN``. Nothing here commits; the caller does.

Entry points
------------
``seed_demo(lead_count=200) -> str``
    The whole workspace: the team (an admin, a manager, three reps in the teams
    "Inbound" and "Outbound", a viewer; all sign in with the demo password), the default
    pipeline, organizations (about 60, or one per 50 leads for big seeds) and
    ``lead_count`` leads with their stage changes, timeline and audit log. Returns a
    one-line summary. On a workspace that already has data it adds leads and
    organizations and reuses the demo users, so no unique constraint trips. ``bench/``
    calls it on an empty database with 1,000 and 100,000.

``seed_team(rng) -> list[DemoUser]``, ``seed_organizations(count, rng) -> list[DemoOrg]``
    The two things leads need.

``seed_leads(count, *, users, organizations, stages, rng, now=None, history=None, full_recent=None)``
    The bulk part, returning ``SeedCounts``. ``users``: ``DemoUser`` rows or ``User``
    models; ``organizations``: the ``DemoOrg`` rows of ``seed_organizations``; ``stages``:
    the pipeline's ``Stage`` models. ``history="full"`` gives every lead call attempts,
    meetings, follow-ups, notes and field-level audit entries; ``"light"`` keeps that
    for the newest ``full_recent`` leads and gives the older ones their stage changes, one
    timeline entry per move and the "created" audit entry. The default is full up to
    ``FULL_HISTORY_LIMIT`` leads, light above.

Repeatable
    Randomness comes from ``random.Random(DEMO_SEED)`` and Faker instances seeded from it:
    two seedings of empty databases give the same team, companies, people and pipeline
    (dates are relative to the moment of seeding).

Fast (100,000 leads in well under a minute on SQLite)
    Leads and their history are built as plain dicts, 2,000 leads at a time, and written
    with Core executemany inserts (``db.session.execute(insert(table), rows)``), never as
    ORM objects; ids are reserved up front so history rows can point at their lead. The
    history that follows from a light lead's own rows is written by INSERT … SELECT. For
    big seeds on SQLite the lead indexes are built once after loading instead of updated
    row by row, with a larger page cache, and cyclic garbage collection pauses while the
    rows are built. Phone numbers come from a pool per country validated once.

Safe data
    People are invented (Faker) and companies composed from word lists. Company domains
    use the reserved ``.example`` top-level domain (RFC 2606) and users are at
    ``example.com``, so no demo address reaches a real mailbox even with SMTP set up.
    Phone numbers are in the ranges regulators reserve for fiction where a country has
    them (US/CA 555-01xx, Ofcom drama numbers, ARCEP fiction numbers, ACMA fictitious
    numbers) and valid for the lead's country everywhere.
"""

from __future__ import annotations

import gc
import random
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import and_, case, func, insert, literal, null, select, text

from leadflow.accounts.models import User
from leadflow.activities.models import Activity
from leadflow.db import insert_missing, utcnow
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.leads.fields import search_text_for
from leadflow.leads.models import Lead, Tag, lead_tags
from leadflow.organizations.models import Organization
from leadflow.pipeline.models import StageChange

DEMO_LOGIN = ("admin@example.com", "demo-pipeline-2024!")
DEMO_SEED = 20240611
FULL_HISTORY_LIMIT = 20_000
BULK_INDEX_THRESHOLD = 20_000  # from this many leads, build the lead indexes after loading
HISTORY_DAYS = 120
LEAD_CHUNK = 2_000  # leads built and written per round
ROW_CHUNK = 5_000  # rows per executemany
COMPANY_TLD = "example"

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


@dataclass(frozen=True)
class DemoUser:
    id: int
    name: str
    role: str
    team: str | None
    utc_offset_hours: float = 0.0


@dataclass(frozen=True)
class DemoOrg:
    id: int
    name: str
    domain: str
    country: str
    size_band: str
    industry: str
    territory: str
    email_pattern: str


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


# --- countries ------------------------------------------------------------------

@dataclass(frozen=True)
class Country:
    code: str
    locale: str
    currency: str
    territory: str
    legal_suffixes: tuple[str, ...]
    # (E.164 digits before the random part, how many random digits)
    phone_templates: tuple[tuple[str, int], ...]


_US_AREAS = ("212", "646", "718", "415", "628", "617", "312", "773", "206", "512", "737", "303",
             "404", "305", "213", "310", "702", "615", "919", "503", "612", "801", "214", "469",
             "713", "602", "858", "619", "347", "202")
_CA_AREAS = ("416", "647", "604", "778", "514", "438", "403", "613", "905")

COUNTRIES = {
    "US": Country("US", "en_US", "USD", "North America", ("Inc.", "LLC", "", "Corp."),
                  tuple((f"1{area}55501", 2) for area in _US_AREAS)),
    "CA": Country("CA", "en_CA", "CAD", "North America", ("Inc.", "Ltd.", ""),
                  tuple((f"1{area}55501", 2) for area in _CA_AREAS)),
    "GB": Country("GB", "en_GB", "GBP", "UK & Ireland", ("Ltd", "", "PLC"),
                  (("4411349600", 3), ("4411749600", 3), ("4411849600", 3), ("4412149600", 3),
                   ("4413149600", 3), ("4414149600", 3), ("4415149600", 3), ("4416149600", 3),
                   ("4420794600", 3), ("4429201800", 3), ("4419149800", 3))),
    "IE": Country("IE", "en_IE", "EUR", "UK & Ireland", ("Ltd", "DAC", ""),
                  (("3531", 7), ("35321", 7), ("35385", 7), ("35387", 7))),
    "DE": Country("DE", "de_DE", "EUR", "DACH", ("GmbH", "AG", "GmbH & Co. KG"),
                  (("4930", 8), ("4989", 7), ("4940", 7), ("49221", 7), ("4969", 7), ("49151", 8))),
    "FR": Country("FR", "fr_FR", "EUR", "France", ("SAS", "SARL", "S.A."),
                  (("3319900", 4), ("3326191", 4), ("3335301", 4), ("3346571", 4), ("3353649", 4))),
    "NL": Country("NL", "nl_NL", "EUR", "Benelux", ("B.V.", ""),
                  (("3120", 7), ("3110", 7), ("3130", 7), ("316", 8))),
    "ES": Country("ES", "es_ES", "EUR", "Southern Europe", ("S.L.", "S.A."),
                  (("3491", 7), ("3493", 7), ("346", 8))),
    "AU": Country("AU", "en_AU", "AUD", "ANZ", ("Pty Ltd", ""),
                  (("6125550", 4), ("6137010", 4), ("6177010", 4), ("6187010", 4))),
}
COUNTRY_WEIGHTS = {"US": 38, "GB": 14, "DE": 10, "CA": 8, "AU": 8, "FR": 6, "NL": 7, "IE": 5, "ES": 4}

INDUSTRIES = {
    "Software": ("Software", "Labs", "Systems", "Cloud"),
    "Manufacturing": ("Manufacturing", "Industries", "Works"),
    "Logistics": ("Logistics", "Freight", "Transport"),
    "Healthcare": ("Health", "Care", "Medical"),
    "Financial services": ("Capital", "Finance", "Insurance"),
    "Retail": ("Retail", "Stores", "Outfitters"),
    "Education": ("Learning", "Academy", "Education"),
    "Professional services": ("Consulting", "Advisory", "Partners"),
    "Construction": ("Construction", "Builders", "Engineering"),
    "Hospitality": ("Hotels", "Hospitality", "Restaurants"),
    "Media": ("Media", "Studios", "Publishing"),
    "Energy": ("Energy", "Solar", "Power"),
}
SIZE_WEIGHTS = {"1-10": 14, "11-50": 30, "51-200": 30, "201-1000": 18, "1000+": 8}
# Deal size in whole currency units, rounded to ``step``, by company size.
DEAL_RANGES = {"1-10": (1_500, 9_000, 250), "11-50": (4_000, 30_000, 500), "51-200": (12_000, 80_000, 1_000),
               "201-1000": (35_000, 200_000, 2_500), "1000+": (90_000, 480_000, 5_000)}
_BRAND_START = ("Blue", "North", "Iron", "Silver", "Bright", "Clear", "Red", "Stone", "Oak", "Pine",
                "Summit", "River", "Harbor", "Maple", "Cedar", "Falcon", "Granite", "Lumen", "Nova",
                "Vertex", "Apex", "Crest", "Meadow", "Willow", "Copper", "Atlas", "Beacon", "Orbit",
                "Quartz", "Aurora", "Juniper", "Kestrel", "Tidal", "Ember", "Alder", "Cobalt")
_BRAND_END = ("field", "bridge", "wave", "peak", "line", "point", "stone", "gate", "well", "view",
              "path", "light", "shore", "ridge", "land", "brook", "crest", "wood", "haven", "mark")
EMAIL_PATTERNS = ("{first}.{last}", "{first}.{last}", "{f}{last}", "{first}", "{first}{l}", "{first}_{last}")

TITLES = (
    ("Chief Executive Officer", 20), ("Founder", 20), ("Chief Operating Officer", 20),
    ("VP Sales", 20), ("Head of Sales", 20), ("Chief Revenue Officer", 20), ("CTO", 20),
    ("Sales Director", 15), ("Marketing Director", 15), ("Head of Operations", 15),
    ("IT Director", 15), ("Finance Director", 15), ("Head of Growth", 15),
    ("Sales Manager", 10), ("Marketing Manager", 10), ("Operations Manager", 10),
    ("Revenue Operations Manager", 10), ("Customer Success Lead", 10), ("Procurement Lead", 10),
    ("Office Manager", 5), ("Business Development Rep", 5), ("Account Executive", 5),
    ("Marketing Coordinator", 0), ("Sales Operations Analyst", 5), ("Project Manager", 5),
)

SOURCE_WEIGHTS = {
    "website": 11, "web form": 22, "referral": 8, "event": 8, "cold outreach": 15, "partner": 6,
    "advertising": 10, "social": 7, "import": 9, "api": 2, "other": 2,
}
WEB_SOURCES = ("website", "web form", "advertising", "social")
OUTBOUND_SOURCES = ("cold outreach", "event", "referral", "import", "other")

FORMS = ("Request a demo", "Contact sales", "Download: pipeline playbook", "Pricing enquiry")
FORM_MESSAGES = (
    "We track leads in a spreadsheet and keep losing follow-ups. Can we see a demo?",
    "Looking for a CRM for a team of {n} reps. What does pricing look like?",
    "We are moving off our current CRM at renewal. Interested in a walkthrough.",
    "Need better visibility of our pipeline before next quarter.",
    "Can LeadFlow import our leads from a CSV export?",
    "Our website form leads go to a shared inbox and nobody owns them. Help!",
)
LANDING_PAGES = ("/", "/pricing", "/demo", "/features/pipeline", "/blog/speed-to-lead", "/compare/spreadsheets",
                 "/customers", "/features/capture-forms")
SITE = "https://www.example.com"
REFERRERS = {"google": "https://www.google.com/", "bing": "https://www.bing.com/",
             "linkedin": "https://www.linkedin.com/", "capterra": "https://www.capterra.com/",
             "twitter": "https://t.co/", "facebook": "https://www.facebook.com/"}
EVENTS = ("Sales Ops Summit", "RevOps Live", "SaaS Growth Expo", "Regional Business Breakfast")
CAMPAIGNS = ("spring-pipeline-webinar", "crm-switch", "speed-to-lead-guide", "q3-retargeting",
             "newsletter-monthly", "partner-showcase", "brand-search")

DISQUALIFY_REASONS = ("Not a fit: too small", "Student / job seeker", "Spam submission",
                      "No budget this year", "Outside our territory", "Duplicate contact")
LOST_REASONS = ("Chose a competitor", "No budget this year", "Went with in-house spreadsheet",
                "Timing: revisit next quarter", "Stopped responding", "Missing integration")
WON_REASONS = ("Fast onboarding", "Price vs. incumbent", "Pipeline visibility for managers",
               "Referral from an existing customer", "Capture forms and routing")
NOTES = (
    "Champion is {first}; budget owner is the finance director.",
    "They currently use a shared spreadsheet and a generic inbox.",
    "Asked for references in {industry}.",
    "Decision expected after their board meeting.",
    "Security questionnaire requested; sent our standard pack.",
    "Wants to start with the {team} team, then roll out.",
)
INTRO_BODIES = (
    "Reached {first}. Interested; booked a discovery call with the team.",
    "Short call: they want to see the pipeline board and lead routing.",
    "{first} confirmed they are reviewing tools this quarter.",
    "Spoke briefly; sending over a case study before the next call.",
)
DISCOVERY_BODIES = (
    "Walked through how they handle inbound leads today. {n} people would use it.",
    "Good fit: they lose leads between marketing and sales. Next: demo for the wider team.",
    "Pain: no idea which rep owns which lead. Budget confirmed for this quarter.",
    "Wants routing by territory and a weekly pipeline report.",
)

# --- small helpers -----------------------------------------------------------------

def _ascii(text: str) -> str:
    text = (text.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("Ä", "Ae")
            .replace("Ö", "Oe").replace("Ü", "Ue").replace("ß", "ss"))
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _utc_offset_hours(tz_name: str) -> float:
    offset = datetime.now(ZoneInfo(tz_name)).utcoffset() or timedelta(0)
    return offset.total_seconds() / 3600


def _weighted(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _chunks(rows: list, size: int = ROW_CHUNK):
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _insert(table, rows: list[dict]) -> None:
    for chunk in _chunks(rows):
        db.session.execute(insert(table), chunk)


def _reserve_ids(table, count: int) -> list[int]:
    """``count`` fresh primary keys for ``table``, so rows can be linked before they are written.

    PostgreSQL hands them out from the column's sequence (safe next to other writers);
    SQLite continues after the highest id, which is safe because the seeding transaction
    holds the database's write lock from its first statement (BEGIN IMMEDIATE).
    """
    if count <= 0:
        return []
    if db.session.get_bind().dialect.name == "postgresql":
        return list(db.session.scalars(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
            {"table": table.name, "count": count},
        ))
    start = (db.session.scalar(db.select(func.max(table.c.id))) or 0) + 1
    return list(range(start, start + count))


def _insert_with_ids(table, rows: list[dict]) -> list[int]:
    ids = _reserve_ids(table, len(rows))
    for row, row_id in zip(rows, ids):
        row["id"] = row_id
    _insert(table, rows)
    return ids


@dataclass
class NamePool:
    first: list[str]
    last: list[str]


def demo_names(rng: random.Random, countries=tuple(COUNTRIES)) -> dict[str, NamePool]:
    """First and last names per country, drawn once from a seeded Faker for that country's locale."""
    from faker import Faker

    pools = {}
    for code in countries:
        faker = Faker(COUNTRIES[code].locale)
        faker.seed_instance(rng.randrange(1 << 30))
        first = sorted({faker.first_name() for _ in range(300)})
        last = sorted({faker.last_name() for _ in range(300)})
        # Only names that still read as names once made into an email address.
        pools[code] = NamePool([n for n in first if _ascii(n)], [n for n in last if _ascii(n)])
    return pools


class _PhonePool:
    """Valid numbers per country, checked once with phonenumbers; unique until a pool runs dry."""

    def __init__(self, rng: random.Random, needed: dict[str, int], cap: int = 1_000):
        self.rng = rng
        self.pools: dict[str, list[str]] = {}
        self.used: dict[str, int] = {}
        for code, count in needed.items():
            self.pools[code] = self._build(code, min(max(count, 10), cap))
            self.used[code] = 0

    def _build(self, code: str, size: int) -> list[str]:
        templates = COUNTRIES[code].phone_templates
        numbers: set[str] = set()
        capacity = sum(10 ** digits for _, digits in templates)
        size = min(size, capacity // 2)
        attempts = 0
        while len(numbers) < size and attempts < size * 4:
            attempts += 1
            prefix, digits = self.rng.choice(templates)
            candidate = "+" + prefix + "".join(self.rng.choices("0123456789", k=digits))
            if candidate in numbers:
                continue
            parsed = phonenumbers.parse(candidate, None)
            if phonenumbers.is_valid_number(parsed) and phonenumbers.region_code_for_number(parsed) == code:
                numbers.add(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
        pool = sorted(numbers)
        self.rng.shuffle(pool)
        return pool

    def take(self, code: str) -> str | None:
        pool = self.pools.get(code)
        if not pool:
            return None
        index = self.used[code]
        self.used[code] = index + 1
        return pool[index] if index < len(pool) else self.rng.choice(pool)


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
    day, seconds = divmod(ts + offset_seconds, DAY)
    weekday = (int(day) + 3) % 7  # 1970-01-01 was a Thursday
    if weekday < 5:
        if WORK_START <= seconds < WORK_END:
            return ts
        if seconds >= WORK_END:
            day, weekday = day + 1, (weekday + 1) % 7
    while weekday >= 5:
        day, weekday = day + 1, (weekday + 1) % 7
    return day * DAY + WORK_START + rng.randint(0, 240) * 60 - offset_seconds


def _money(cents: int) -> str:
    return f"{cents // 100:,}.{cents % 100:02d}"


@dataclass
class _Chunk:
    open_stage_ids: list[int] = field(default_factory=list)
    lost_stage_id: int | None = None
    leads: list[dict] = field(default_factory=list)
    stage_changes: list[list[dict]] = field(default_factory=list)
    activities: list[list[dict]] = field(default_factory=list)
    activities_with_details: list[list[dict]] = field(default_factory=list)
    audits: list[list[dict]] = field(default_factory=list)
    tags: list[list[str]] = field(default_factory=list)
    light: list[bool] = field(default_factory=list)


DEMO_ACTOR = "Demo data"  # who the audit log says did what no demo user did (routing, forms)


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
        ``_light_history_in_sql``. The lead's first response and last activity agree either way."""
        rng = self.rng
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
        if full:
            stage_changes = [{"from_stage_id": None, "to_stage_id": open_stages[0][0], "actor_id": creator,
                              "at": created_at}]
            audits: list[dict] = [{"at": created_at, "actor_id": creator, "actor_name": self.actor_name(creator),
                                   "entity_type": "lead",
                                   "action": "create", "field": None, "old_value": None,
                                   "new_value": f"{first} {last}"}]
        else:  # _write_chunk adds the first stage change and the "create" entry in SQL
            stage_changes, audits = [], []
        tags: list[str] = []
        first_touch = None  # first call, email or meeting by a person: the first response
        last_touch = None  # latest call, email, meeting, note, form or visit

        def act(kind, ts, subject, actor=owner_id, body=None, outcome=None, duration=None):
            if full:  # light history: _light_history_in_sql writes the touch behind each move
                at = dt(ts)
                acts.append({"kind": kind, "actor_id": actor, "occurred_at": at, "subject": subject,
                             "body": body, "outcome": outcome, "duration_seconds": duration, "created_at": at})

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
            acts = [a for a in acts if a["kind"] != "assignment"]
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
            "search_text": search_text_for(first, last, email, phone, org.name),
            "board_rank": -stage_entered,  # the card moved last sits on top of its column
            "version": 1,
        })
        chunk.light.append(not full)
        chunk.stage_changes.append(stage_changes)
        chunk.activities.append(acts)
        chunk.activities_with_details.append(acts_d)
        chunk.audits.append(audits)
        chunk.tags.append(tags)


def _datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _tag_ids(names: set[str]) -> dict[str, int]:
    keys = {n.lower(): n for n in names}
    existing = dict(db.session.execute(db.select(Tag.name_key, Tag.id).where(Tag.name_key.in_(list(keys)))).all())
    missing = [{"name": name, "name_key": key} for key, name in keys.items() if key not in existing]
    if missing:
        insert_missing(Tag.__table__, missing, ["name_key"])  # a tag someone adds meanwhile is used, not doubled
        existing = dict(db.session.execute(db.select(Tag.name_key, Tag.id).where(Tag.name_key.in_(list(keys)))).all())
    return existing


def _write_chunk(chunk: _Chunk, tag_ids: dict[str, int]) -> SeedCounts:
    ids = _insert_with_ids(Lead.__table__, chunk.leads)
    stage_rows, act_rows, act_d_rows, audit_rows, tag_rows = [], [], [], [], []
    for lead_id, changes, acts, acts_d, audits, tags in zip(
            ids, chunk.stage_changes, chunk.activities, chunk.activities_with_details, chunk.audits, chunk.tags):
        for row in changes:
            row["lead_id"] = lead_id
        for row in acts:
            row["lead_id"] = lead_id
        for row in acts_d:
            row["lead_id"] = lead_id
        for row in audits:
            row["entity_id"] = lead_id
        stage_rows.extend(changes)
        act_rows.extend(acts)
        act_d_rows.extend(acts_d)
        audit_rows.extend(audits)
        tag_rows.extend({"lead_id": lead_id, "tag_id": tag_ids[t]} for t in dict.fromkeys(tags))
    # Rows in time order per lead, so the (lead, time) indexes fill in order.
    act_rows.sort(key=lambda r: (r["lead_id"], r["occurred_at"]))
    audit_rows.sort(key=lambda r: (r["entity_id"], r["at"]))
    _insert(StageChange.__table__, stage_rows)
    _insert(Activity.__table__, act_rows)
    _insert(Activity.__table__, act_d_rows)
    _insert(AuditEntry.__table__, audit_rows)
    _insert(lead_tags, tag_rows)
    counts = SeedCounts(leads=len(ids), stage_changes=len(stage_rows), activities=len(act_rows) + len(act_d_rows),
                        audit_entries=len(audit_rows), tag_links=len(tag_rows))
    light_ids = [lead_id for lead_id, light in zip(ids, chunk.light) if light]
    if light_ids:
        _light_history_in_sql(light_ids, chunk.open_stage_ids, chunk.lost_stage_id)
        # One first stage change and one "created" entry per lead, one timeline entry per move.
        moves = sum(len(changes) for changes, light in zip(chunk.stage_changes, chunk.light) if light)
        counts.add(SeedCounts(stage_changes=len(light_ids), audit_entries=len(light_ids), activities=moves))
    return counts


MANUAL_SOURCES = ("cold outreach", "event", "referral", "import", "other")
# The touch behind a move out of the n-th open stage, for light-history leads: kind, subject.
LIGHT_TOUCHES = (("call", "Intro call"), ("meeting", "Discovery call"), ("email", "Proposal sent"),
                 ("meeting", "Pricing review with procurement"), ("note", "Order form signed"))


def _light_history_in_sql(lead_ids: list[int], open_stage_ids: list[int], lost_stage_id: int | None) -> None:
    """The history of light leads that follows from their rows, as INSERT … SELECT statements
    instead of Python rows: the "created" audit entry, the first stage change, and one
    timeline entry (call, meeting, email or note) at each later stage change."""
    leads, changes = Lead.__table__, StageChange.__table__
    creator = case((leads.c.source.in_(MANUAL_SOURCES), leads.c.owner_id), else_=null())
    chosen = leads.c.id.in_(lead_ids)
    db.session.execute(insert(changes).from_select(
        ["lead_id", "from_stage_id", "to_stage_id", "actor_id", "at"],
        select(leads.c.id, null(), literal(open_stage_ids[0]), creator, leads.c.created_at).where(chosen),
    ))
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

    with _bulk_load_cache(), _indexes_rebuilt_after(Lead.__table__, enabled=count >= BULK_INDEX_THRESHOLD), \
            _cyclic_gc_paused():
        for start in range(0, count, LEAD_CHUNK):
            chunk = _Chunk(open_stage_ids=[sid for sid, _ in factory.open],
                           lost_stage_id=factory.lost[0] if factory.lost else None)
            for i in range(start, min(start + LEAD_CHUNK, count)):
                factory.build(created[i], orgs[i], sources[i], i >= full_from, chunk)
            counts.add(_write_chunk(chunk, tag_ids))
    # The board's per-stage counts and values are kept by ORM events, which Core inserts skip.
    from leadflow.pipeline.totals import recount_stage_totals

    recount_stage_totals(db.session, [s.id for s in stages])
    return counts


@contextmanager
def _indexes_rebuilt_after(table, *, enabled: bool):
    """On SQLite, drop ``table``'s secondary indexes for a big load and build them again after.

    Building an index once over sorted keys is several times faster than updating it on every
    insert with random keys (emails, phones, organizations). The statements are the exact ones
    stored in the schema, and all of it runs inside the seeding transaction.
    """
    connection = db.session.connection()
    if not enabled or connection.dialect.name != "sqlite":
        yield
        return
    indexes = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (table.name,),
    ).all()
    for name, _sql in indexes:
        connection.exec_driver_sql(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        for _name, sql in indexes:
            connection.exec_driver_sql(sql)


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
    from leadflow.scoring.models import ScoringRule
    from leadflow.scoring.services import SETTINGS_KEY

    if db.session.scalar(db.select(func.count(ScoringRule.id))):
        return 0
    for position, (name, category, points, extra) in enumerate(DEMO_SCORING_RULES, start=1):
        db.session.add(ScoringRule(name=name, category=category, points=points, active=True, position=position, **extra))
    if db.session.get(Setting, SETTINGS_KEY) is None:
        db.session.add(Setting(key=SETTINGS_KEY, value=dict(DEMO_SCORING_SETTINGS)))
    db.session.flush()
    return len(DEMO_SCORING_RULES)


def score_leads_quietly(batch: int = 1000) -> int:
    """Give every lead the score, breakdown, temperature and lifecycle the active scoring
    rules give it, as "Rescore all leads" would, but without a timeline entry or an audit
    entry per lead (a freshly seeded workspace has no score history to tell). Returns how
    many leads it scored."""
    from sqlalchemy import bindparam, update
    from sqlalchemy.orm import joinedload, selectinload

    from leadflow.scoring.services import active_rules, computed_scores, score_values, scoring_settings

    rules = active_rules()
    if not rules:
        return 0
    settings = scoring_settings()
    now = utcnow()
    table = Lead.__table__
    statement = (update(table).where(table.c.id == bindparam("lead_id"))
                 .values(score=bindparam("score"), score_breakdown=bindparam("score_breakdown"),
                         temperature=bindparam("temperature"), lifecycle=bindparam("lifecycle")))
    after, done = 0, 0
    while True:
        leads = db.session.scalars(
            select(Lead).options(joinedload(Lead.organization), selectinload(Lead.tags))
            .where(Lead.id > after).order_by(Lead.id).limit(batch)).all()
        if not leads:
            return done
        rows = [{"lead_id": lead.id, **score_values(lead, total, breakdown, settings)}
                for lead, total, breakdown in computed_scores(leads, rules, settings, now)]
        db.session.connection().execute(statement, rows)
        after, done = leads[-1].id, done + len(leads)
        for lead in leads:  # a large workspace is scored a batch at a time, not held in the session
            db.session.expunge(lead)


def seed_routing_rules() -> int:
    """Inbound web leads go round-robin to the Inbound team; the manager is the fallback owner
    (only when there are no routing rules yet). Returns how many rules it made."""
    from leadflow.accounts.models import Team
    from leadflow.governance.models import Setting
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
        db.session.add(Setting(key=FALLBACK_SETTING, value=manager.id))
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
    from leadflow.leads.store import writing
    from leadflow.pipeline.services import ensure_default_pipeline

    # Still writes its lead rows, their history and the stage totals with its own bulk
    # statements, so it says so to the lead store's guard; moving the demo onto the store's
    # writers (and out of the runtime package) is what is left of that part of the work.
    with writing():
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
        seed_tasks(users, rng)
        seed_scoring_rules()
        db.session.flush()
        score_leads_quietly()
        seed_routing_rules()
        seed_workflow_rules()
        seed_sequence()
        db.session.flush()
    teams = len({u.team for u in users if u.team})
    seconds = time.perf_counter() - started
    return (f"Seeded the demo workspace in {seconds:.1f} s: {len(users)} users in {teams} teams, "
            f"{len(orgs):,} organizations, {counts.leads:,} leads with {counts.stage_changes:,} stage changes, "
            f"{counts.activities:,} activities and {counts.audit_entries:,} audit entries"
            f"{' (light history)' if counts.history == 'light' else ''}.")
