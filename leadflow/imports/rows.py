"""Turning one CSV row into lead values, fast: the same rules as the lead form
(``leadflow.leads.fields`` and ``leads.services``), with the slow parts cached or
precompiled so a 100,000-row file is checked in seconds."""

from __future__ import annotations

import functools
import re
from datetime import date, timezone, tzinfo
from decimal import Decimal

import phonenumbers

from leadflow.accounts.models import User
from leadflow.extensions import db
from leadflow.leads import fields as f
from leadflow.governance.models import CURRENCIES
from leadflow.leads.models import LIFECYCLES, SOURCES
from leadflow.leads.services import TEXT_LIMITS, default_stage, parse_tags
from leadflow.imports.formats import (DATE_FORMATS, DATE_TARGETS, DECIMAL_SEPARATORS, ISO, AmountError, DateError,
                                      FutureDate, parse_amount, parse_date_cell, parse_moment)
from leadflow.imports.country_names import NAMES_BY_CODE
from leadflow.imports.mapping import TARGETS, custom_field_name, normalise_header
from leadflow.imports.problems import Problem, cell_code
from leadflow.pipeline.models import Pipeline, Stage

MAX_CELL = 10_000  # characters; a longer cell is a broken row, not a lead
NOTE_LIMIT = 10_000
CUSTOM_LIMIT = 500
MEMO_LIMIT = 20_000  # distinct cell texts kept per repeating column (see RowCleaner.handlers)

# Lifecycle values as other CRMs export them in a lifecycle column (HubSpot's "Lifecycle Stage"
# holds "Marketing Qualified Lead"; older files put sales statuses there too).
LIFECYCLE_VALUES = {
    **{normalise_header(k): k for k in LIFECYCLES},
    **{normalise_header(alias): lifecycle for alias, lifecycle in (
        ("marketing qualified lead", "mql"), ("marketingqualifiedlead", "mql"), ("sales qualified lead", "sql"),
        ("salesqualifiedlead", "sql"), ("qualified", "sql"), ("pre qualified", "mql"), ("open deal", "opportunity"),
        ("new", "lead"), ("open", "lead"), ("in progress", "lead"), ("attempted to contact", "lead"),
        ("connected", "lead"), ("contacted", "lead"), ("not contacted", "lead"), ("bad timing", "lead"),
        ("open - not contacted", "lead"), ("working - contacted", "lead"), ("contact in future", "lead"),
        ("attempted", "lead"), ("other", "lead"), ("evangelist", "customer"), ("closed - converted", "customer"),
        ("converted", "customer"), ("won", "customer"), ("unqualified", "disqualified"),
        ("not qualified", "disqualified"), ("closed - not converted", "disqualified"),
        ("junk lead", "disqualified"), ("lost lead", "disqualified"), ("lost", "disqualified"),
    )},
}
# Source values as other CRMs export them; anything else becomes "other".
SOURCE_VALUES = {
    **{normalise_header(s): s for s in SOURCES},
    **{normalise_header(k): v for k, v in (
        ("web", "website"), ("organic search", "website"), ("direct traffic", "website"), ("seo", "website"),
        ("web site", "website"), ("webform", "web form"), ("form", "web form"), ("web download", "web form"),
        ("referrals", "referral"), ("employee referral", "referral"), ("external referral", "referral"), ("word of mouth", "referral"),
        ("partner referral", "partner"), ("reseller", "partner"), ("trade show", "event"), ("seminar", "event"),
        ("conference", "event"), ("webinar", "event"), ("seminar - partner", "partner"),
        ("cold call", "cold outreach"), ("cold email", "cold outreach"), ("outbound", "cold outreach"),
        ("advertisement", "advertising"), ("paid search", "advertising"), ("ppc", "advertising"),
        ("online store", "website"), ("paid social", "advertising"), ("social media", "social"),
        ("organic social", "social"), ("facebook", "social"), ("linkedin", "social"), ("twitter", "social"),
        ("offline sources", "other"), ("chat", "website"),
    )},
}

_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_NANP = re.compile(r"^\s*(?:\+?1[\s.-]*)?(?:\(([2-9]\d{2})\)|([2-9]\d{2}))[\s.-]*(\d{3})[\s.-]*(\d{4})\s*$")


# A country column's names (normalised) -> ISO code: six languages' names, and what people write.
COUNTRIES: dict[str, str] = {name: code for code, names in NAMES_BY_CODE.items() for name in names.split()}
COUNTRIES.update({normalise_header(k): v for k, v in (
    ("USA", "US"), ("United States of America", "US"), ("U.S.", "US"), ("UK", "GB"), ("England", "GB"),
    ("Great Britain", "GB"), ("Scotland", "GB"), ("Wales", "GB"), ("Holland", "NL"), ("Czechia", "CZ"),
    ("South Korea", "KR"), ("Russia", "RU"),
)})

# The number types phonenumbers tries, in its order (``_number_type_helper``).
_US_NUMBER_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
                    "voicemail", "fixed_line", "mobile")


def _us_patterns() -> tuple[re.Pattern, re.Pattern]:
    """The US metadata's general pattern, and one pattern for all its number types."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("US")

    def fits(desc) -> bool:
        return bool(desc is not None and desc.national_number_pattern
                    and (not desc.possible_length or 10 in desc.possible_length))

    types = [getattr(metadata, name) for name in _US_NUMBER_TYPES]
    general = metadata.general_desc
    general_pattern = general.national_number_pattern if fits(general) else "(?!)"
    return (re.compile(f"(?:{general_pattern})"),
            re.compile("|".join(f"(?:{d.national_number_pattern})" for d in types if fits(d)) or "(?!)"))


_US_GENERAL, _US_ANY_TYPE = _us_patterns()


def us_number_is_valid(digits: str) -> bool:
    """``phonenumbers.is_valid_number_for_region(+1 digits, "US")`` for a 10-digit national
    number, in two precompiled matches instead of up to eleven pattern look-ups: valid when
    the number fits the general pattern and the pattern of any number type."""
    return (len(digits) == 10 and _US_GENERAL.fullmatch(digits) is not None
            and _US_ANY_TYPE.fullmatch(digits) is not None)


@functools.lru_cache(maxsize=None)
def _is_nanp_region(region: str) -> bool:
    return phonenumbers.country_code_for_region(region) == 1


class RowCleaner:
    """Cleans rows for one import. Built once per run: it loads the users, stages and
    workspace defaults it needs, and caches what repeats between rows (email domains,
    organizations, countries)."""

    def __init__(self, columns: list[str], mapping: list[str], *, region: str, default_currency: str,
                 decimal_separator: str = ".", date_formats: dict | None = None, zone: tzinfo | None = None):
        self.columns = columns
        self.width = len(columns)
        self.region = region
        self.nanp_region = phonenumbers.country_code_for_region(region) == 1
        self.default_currency = default_currency if default_currency in CURRENCIES else "USD"
        self.targets: dict[str, list[int]] = {}
        self.custom: list[tuple[int, str]] = []
        self.notes: list[int] = []
        for index, target in enumerate(mapping[: self.width]):
            if target == "custom":
                self.custom.append((index, custom_field_name(columns[index])))
            elif target == "notes":
                self.notes.append(index)
            elif target in TARGETS and target != "ignore":
                self.targets.setdefault(target, []).append(index)
        self.text_targets = [(t, TEXT_LIMITS[t], self.targets[t]) for t in TEXT_LIMITS if t in self.targets]
        # (target, handler, cell indexes, results by cell text or None): a column whose
        # values repeat (countries, sources, owners, companies…) is checked once per value.
        self.handlers = [(t, handler, self.targets[t], {} if t in self._REPEATING else None)
                         for t, handler in self._HANDLERS if t in self.targets]
        self.decimal_separator = decimal_separator if decimal_separator in DECIMAL_SEPARATORS else "."
        self.zone = zone or timezone.utc
        self.date_formats = column_date_formats(self.targets, date_formats or {})
        self._domains: dict[str, str | None] = {}
        self._users: dict[str, int] | None = None
        self._stages: dict[str, int] | None = None
        self._stage_rows: dict = {}
        self._default_stage: int | None | bool = False

    # -- lookups, loaded on first use ---------------------------------------------------
    def users(self) -> dict[str, int]:
        if self._users is None:
            rows = db.session.execute(db.select(User.id, User.email, User.name).where(User.active.is_(True))).all()
            names: dict[str, list[int]] = {}
            for row in rows:
                names.setdefault(row.name.strip().lower(), []).append(row.id)
            self._users = {n: ids[0] for n, ids in names.items() if len(ids) == 1}  # only unambiguous names
            self._users.update({row.email.lower(): row.id for row in rows})
        return self._users

    def stages(self) -> dict[str, int]:
        """Stage name (any case) → id, over the pipelines in use."""
        if self._stages is None:
            rows = db.session.execute(
                db.select(Stage.id, Stage.name, Stage.pipeline_id, Stage.kind).join(Pipeline)
                .where(Pipeline.archived_at.is_(None))
                .order_by(Pipeline.is_default.asc(), Pipeline.position.desc(), Stage.position.desc())
            ).all()
            # Later wins: a name two pipelines share means the default pipeline's stage.
            self._stages = {" ".join(r.name.split()).lower(): r.id for r in rows}
            self._stage_rows = {r.id: r for r in rows}
        return self._stages

    def stage(self, stage_id: int):
        """A stage's id, pipeline id and kind (what ``store.stage_columns`` reads)."""
        self.stages()
        return self._stage_rows[stage_id]

    def default_stage_id(self) -> int | None:
        if self._default_stage is False:
            stage = default_stage()
            self._default_stage = stage.id if stage else None
        return self._default_stage

    def preload(self) -> None:
        """Load now what cleaning may look up later (rows are then cleaned without the database)."""
        self.users()
        self.stages()
        self.default_stage_id()

    # -- one row ---------------------------------------------------------------------------
    def _first(self, cells: list[str], target: str) -> str:
        for index in self.targets.get(target, ()):
            value = cells[index].strip()
            if value:
                return value
        return ""

    def clean(self, cells: list[str]) -> tuple[dict, list[Problem]]:
        """(values, problems). ``values`` holds only what the row gives (keys as in
        ``clean_lead_input``: value_cents, organization_name, tags, owner_id, stage_id, …;
        plus ``custom_fields``, ``note`` and ``_phone_cell``, see ``_phone``). A bad cell is
        left out of the values and is a problem; when the row has no usable name, or no
        valid email and no valid phone, the problems start with the fatal ones (the row
        fails), else every problem is a warning (the row is imported without those cells)."""
        values: dict = {}
        problems: list[Problem] = []
        for target, limit, indexes in self.text_targets:
            raw = ""
            for index in indexes:
                raw = cells[index]
                if raw.strip():
                    break
            if raw:
                text = " ".join(raw.split())
                if len(text) > limit:
                    problems.append(Problem(f"{target}:too_long", f"{TARGETS[target]}: use at most {limit} characters.",
                                            text))
                elif text:
                    values[target] = text
        if "full_name" in self.targets and not ("first_name" in values or "last_name" in values):
            full = " ".join(self._first(cells, "full_name").split())
            if full:
                first, _, last = full.rpartition(" ")
                if not first:
                    first, last = last, ""
                if len(first) > 80 or len(last) > 80:
                    problems.append(Problem("full_name:too_long", "Full name: use at most 80 characters for each part.",
                                            full))
                else:
                    values["first_name"], values["last_name"] = first, last
        for target, handler, indexes, memo in self.handlers:
            for index in indexes:  # the first non-empty cell mapped to the target
                raw = cells[index].strip()
                if raw:
                    break
            else:
                continue
            if memo is None:  # a column of distinct values (emails, phones)
                try:
                    handler(self, raw, values)
                except f.FieldError as exc:
                    problems.append(Problem(cell_code(target), f"{TARGETS[target]}: {exc}", raw))
                continue
            outcome = memo.get(raw)
            if outcome is None:
                outcome = self._outcome(target, handler, raw)
                if len(memo) < MEMO_LIMIT:
                    memo[raw] = outcome
            if outcome.__class__ is Problem:
                problems.append(outcome)
            else:
                values.update(outcome)
        if self.custom:
            custom = {}
            for index, name in self.custom:
                text = cells[index].strip()
                if text:
                    if len(text) > CUSTOM_LIMIT:
                        problems.append(Problem("custom:too_long", f"{name}: use at most {CUSTOM_LIMIT} characters.",
                                                text))
                    else:
                        custom[name] = text
            if custom:
                values["custom_fields"] = custom
        if self.notes:
            note = "\n\n".join(cells[i].strip() for i in self.notes if cells[i].strip())
            if note:
                values["note"] = note
        get = values.get
        if not (get("first_name") or get("last_name")) or not (get("email") or get("phone")):
            problems = self._fatal(values, problems) + problems
        return values, problems

    @staticmethod
    def _fatal(values: dict, problems: list[Problem]) -> list[Problem]:
        """Why a row with no usable name or no valid contact cannot be a lead."""
        fatal = []
        if not (values.get("first_name") or values.get("last_name")):
            fatal.append(Problem("name:missing", "The row has no name: a lead needs a first or last name.", fatal=True))
        if not (values.get("email") or values.get("phone")):
            valid = " valid" if any(p.code.startswith(("email:", "phone:")) for p in problems) else ""
            fatal.append(Problem("contact:missing", f"The row has no{valid} email or phone: a lead needs one of them.",
                                 fatal=True))
        return fatal

    def _outcome(self, target: str, handler, raw: str) -> dict | Problem:
        """What a handler makes of a cell: the values it gives, or the problem."""
        out: dict = {}
        try:
            handler(self, raw, out)
        except f.FieldError as exc:
            return Problem(cell_code(target), f"{TARGETS[target]}: {exc}", raw)
        return out

    def _email(self, raw: str, values: dict) -> None:
        values["email"], values["email_key"] = self.normalise_email(raw)

    def normalise_email(self, raw: str) -> tuple[str, str]:
        """As ``fields.normalise_email``; a plain ASCII address checks its domain once per file."""
        at = raw.rfind("@")
        local, domain = raw[:at], raw[at + 1:]
        if 0 < at and len(raw) <= 200 and len(local) <= 64 and domain.isascii() and _LOCAL_PART.match(local):
            key = domain.lower()
            if key not in self._domains:
                from email_validator import EmailNotValidError, validate_email  # as fields.normalise_email

                try:
                    self._domains[key] = validate_email(f"a@{domain}", check_deliverability=False).domain
                except EmailNotValidError:
                    self._domains[key] = None
            normal_domain = self._domains[key]
            if normal_domain is not None:
                address = f"{local}@{normal_domain}"
                return address, address.lower()
        address, key = f.normalise_email(raw)  # the full check, and its message
        return address, key

    def _phone(self, raw: str, values: dict) -> None:
        """The phone, read in the row's country (the country column comes first) or else in
        the workspace's region; then the cell is kept as ``_phone_cell`` (cell, region), for
        an update to read again in the matched lead's country (``planner.find_duplicates``)."""
        country = values.get("country")
        if country is None:
            region = self.region
            if not raw.startswith(("+", "00")):
                values["_phone_cell"] = (raw, region)
        else:
            region = f.phone_region(country, self.region)
        values["phone"] = self.normalise_phone(raw, region)

    def normalise_phone(self, raw: str, region: str | None = None) -> str:
        """As ``fields.normalise_phone`` in ``region`` (the workspace's by default). A plainly
        written North American number in a North American region (the most common case, and
        phonenumbers' slowest) skips the general parser: its digits are read with one pattern
        and checked against the US metadata (``us_number_is_valid``), which is what
        ``is_valid_number`` checks first for country code 1. Anything else, and any number
        that check refuses, takes the full path and its message."""
        region = region or self.region
        match = _NANP.match(raw)
        if match and (_is_nanp_region(region) or raw.lstrip().startswith("+")):
            digits = "".join(g for g in match.groups() if g)
            if us_number_is_valid(digits):
                return "+1" + digits
        return f.normalise_phone(raw, region)

    def _country(self, raw: str, values: dict) -> None:
        if len(raw) == 2 and raw.isalpha():
            values["country"] = raw.upper()
            return
        code = COUNTRIES.get(normalise_header(raw))
        if code is None:
            raise f.FieldError(f"“{raw[:40]}” is not a country we know; use a two-letter code such as US or DE.")
        values["country"] = code

    def _source(self, raw: str, values: dict) -> None:
        values["source"] = SOURCE_VALUES.get(normalise_header(raw), "other")

    def _lifecycle(self, raw: str, values: dict) -> None:
        lifecycle = LIFECYCLE_VALUES.get(normalise_header(raw))
        if lifecycle is None:
            raise f.FieldError(f"“{raw[:40]}” is not a lifecycle stage. Use one of: {', '.join(LIFECYCLES)}.")
        values["lifecycle"] = lifecycle

    def _value(self, raw: str, values: dict) -> None:
        """An amount with the file's decimal separator; a currency the cell names ("2500,00 EUR",
        "€2,500") is the lead's currency unless a currency column says otherwise."""
        if len(raw) <= 10 and raw.isascii() and raw.isdigit():  # whole units below the limit
            values["value_cents"] = int(raw) * 100
            return
        try:
            values["value_cents"], currency = parse_amount(raw, self.decimal_separator)
        except AmountError as exc:
            raise f.FieldError(str(exc)) from None
        if currency in CURRENCIES:
            values["currency"] = currency

    def _currency(self, raw: str, values: dict) -> None:
        code = raw.upper()
        if code not in CURRENCIES:
            raise f.FieldError(f"“{raw[:20]}” is not a currency we support. Use one of: {', '.join(CURRENCIES)}.")
        values["currency"] = code

    def _close_date(self, raw: str, values: dict) -> None:
        values["expected_close_date"] = read_date(raw, self.date_formats["expected_close_date"])

    def _created(self, raw: str, values: dict) -> None:
        """When the lead was first recorded, in UTC (new leads only: an update leaves it)."""
        formats = self.date_formats["created_at"]
        for fmt in formats:
            try:
                values["created_at"] = parse_moment(raw, fmt, self.zone)
                return
            except DateError as exc:
                if fmt == formats[-1] or isinstance(exc, FutureDate):
                    raise f.FieldError(str(exc)) from None

    def _tags(self, raw: str, values: dict) -> None:
        names = parse_tags(raw.replace(";", ","))  # "a; b" as other CRMs export it
        if names:
            values["tags"] = tuple(names)  # shared by every row with the same cell

    def _organization(self, raw: str, values: dict) -> None:
        name = " ".join(raw.split())
        if len(name) > 200:
            raise f.FieldError("Use at most 200 characters.")
        values["organization_name"] = name

    def _owner(self, raw: str, values: dict) -> None:
        owner_id = self.users().get(raw.strip().lower())
        if owner_id is None:
            raise f.FieldError(f"No active user has the e-mail or name “{raw[:80]}”.")
        values["owner_id"] = owner_id

    def _stage(self, raw: str, values: dict) -> None:
        stage_id = self.stages().get(" ".join(raw.split()).lower())
        if stage_id is None:
            raise f.FieldError(f"There is no stage called “{raw[:80]}”.")
        values["stage_id"] = stage_id

    # Targets whose cells repeat between rows (their outcomes are kept by cell text).
    _REPEATING = frozenset(("country", "source", "lifecycle", "value", "currency", "expected_close_date", "tags",
                            "organization", "owner", "stage", "created_at"))
    _HANDLERS = (
        # The country before the phone: it is the region the phone is read in.
        ("email", _email), ("country", _country), ("phone", _phone), ("source", _source),
        ("lifecycle", _lifecycle), ("value", _value), ("currency", _currency),
        ("expected_close_date", _close_date), ("tags", _tags), ("organization", _organization),
        ("owner", _owner), ("stage", _stage), ("created_at", _created),
    )


def column_date_formats(targets: dict[str, list[int]], chosen: dict) -> dict[str, tuple[str, ...]]:
    """For each date target, the formats of its columns in column order (``chosen`` maps a
    column index, as text, to its format; ISO where none was chosen). A target's cells are
    memoised by text, not column: a cell is read with the first of them that reads it."""
    out = {}
    for target in DATE_TARGETS:
        formats = []
        for index in targets.get(target, ()):
            fmt = chosen.get(str(index)) or ISO
            if fmt in DATE_FORMATS and fmt not in formats:
                formats.append(fmt)
        out[target] = tuple(formats) or (ISO,)
    return out


def read_date(raw: str, formats: tuple[str, ...]) -> date:
    """The day a cell names (a time after it is left out), in the first format that reads it."""
    for fmt in formats:
        try:
            return parse_date_cell(raw, fmt)[0]
        except DateError as exc:
            if fmt == formats[-1]:
                raise f.FieldError(str(exc)) from None
    raise AssertionError("no formats")


def input_form(values: dict) -> dict:
    """Cleaned values as ``leads.services.update_lead`` takes them (its input form)."""
    data = {}
    for key, value in values.items():
        if key in ("email_key", "custom_fields", "note", "created_at", "_phone_cell"):  # created_at: new leads only
            continue
        if key == "organization_name":
            data["organization"] = value
        elif key == "value_cents":
            data["value"] = f"{Decimal(value) / 100:.2f}".removesuffix(".00")
        elif key == "expected_close_date":
            data["expected_close_date"] = value.isoformat()
        elif key in ("owner_id", "stage_id"):
            data[key] = str(value)
        else:
            data[key] = value
    return data
