"""The demo's world: the countries its companies are in, their names, people's names (drawn
from a seeded Faker, the one place the demo needs it), phone numbers in the ranges kept for
fiction, titles, sources and the words its timelines are written with."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from faker import Faker  # the demo extra: `pip install -e '.[demo]'`

DEMO_LOGIN = ("admin@example.com", "demo-pipeline-2024!")
HISTORY_DAYS = 120
COMPANY_TLD = "example"
DEMO_ACTOR = "Demo data"  # who the audit log says did what no demo user did (routing, forms)


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
MANUAL_SOURCES = ("cold outreach", "event", "referral", "import", "other")  # a person typed these in

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




@dataclass
class NamePool:
    first: list[str]
    last: list[str]


def demo_names(rng: random.Random, countries=tuple(COUNTRIES)) -> dict[str, NamePool]:
    """First and last names per country, drawn once from a seeded Faker for that country's locale."""
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
