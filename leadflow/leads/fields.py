"""Normalising contact fields. Forms, capture, import and the API all call these."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import phonenumbers


class FieldError(ValueError):
    """A value a person typed cannot be used; the message says why, in their words."""


def normalise_email(value: str | None) -> tuple[str | None, str | None]:
    """(address as stored, lower-case key for matching), or FieldError."""
    value = (value or "").strip()
    if not value:
        return None, None
    # email_validator (and its IDNA tables, 0.5 MB) loads with the first address a process
    # checks: a web process that only shows pages never holds it.
    from email_validator import EmailNotValidError

    try:
        normalized = _validated_email(value)
    except EmailNotValidError as exc:
        raise FieldError(f"“{value[:80]}” is not a valid email address: {exc}") from exc
    return normalized, normalized.lower()


@lru_cache(maxsize=64)  # a create checks its one address up to three times; a few kept, never more
def _validated_email(value: str) -> str:
    from email_validator import validate_email

    return validate_email(value, check_deliverability=False).normalized


def phone_region(country: str | None, default: str) -> str:
    """The region a phone number written without its country code is read in: the lead's
    country when it is one phonenumbers knows, else ``default`` (the workspace's region)."""
    code = (country or "").strip().upper()
    return code if code in phonenumbers.SUPPORTED_REGIONS else default


# Ranges regulators keep for films, books and examples, which phonenumbers calls invalid
# (unallocated) although people write them in sample data and test exports:
# Ofcom's UK mobile 07700 900000–900999 and the UK geographic 01632 960000–960999.
_DRAMA_PREFIXES = ("+447700900", "+441632960")


def _is_drama_number(number: phonenumbers.PhoneNumber) -> bool:
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return len(e164) == 13 and e164.startswith(_DRAMA_PREFIXES)


def normalise_phone(value: str | None, region: str) -> str | None:
    """The number in E.164 (+14155550123), or FieldError. A number written without its
    country code is read in ``region`` (see ``phone_region``); ``00`` before a country code,
    as most of the world dials abroad, is read as ``+`` (0044 20 7946 0958 → +442079460958)."""
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > 40:
        raise FieldError("That phone number is too long.")
    if value.startswith("00"):
        value = "+" + value[2:].lstrip()
    try:
        number = phonenumbers.parse(value, None if value.startswith("+") else region)
    except phonenumbers.NumberParseException as exc:
        raise FieldError(f"“{value}” is not a phone number we can read.") from exc
    if not (phonenumbers.is_valid_number(number) or _is_drama_number(number)):
        raise FieldError(
            f"“{value}” is not a valid phone number for region {region}. "
            "Include the country code (for example +44 20 7946 0958)."
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str | None) -> str:
    if not e164:
        return ""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


_MONEY = re.compile(r"^[\s$€£]*(-?[0-9][0-9,\s]*(?:\.[0-9]{1,2})?)\s*$")


def parse_money(value) -> int | None:
    """Cents from '12,500.50' or 12500.5; FieldError on anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        amount = Decimal(str(value))
    else:
        match = _MONEY.match(str(value))
        if not match:
            raise FieldError("Enter an amount such as 12500 or 12,500.50.")
        try:
            amount = Decimal(match.group(1).replace(",", "").replace(" ", ""))
        except InvalidOperation as exc:
            raise FieldError("Enter an amount such as 12500 or 12,500.50.") from exc
    if amount < 0:
        raise FieldError("The value cannot be negative.")
    if amount >= Decimal("10000000000"):
        raise FieldError("The value is too large.")
    return int((amount * 100).quantize(Decimal("1")))


def parse_date(value) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise FieldError("Enter a date as YYYY-MM-DD.") from exc


# Custom fields (``Lead.custom_fields``, name → text): the limits every way in keeps to
# (API, capture forms, the lead page).
MAX_CUSTOM_FIELDS = 50
CUSTOM_KEY_MAX = 64
CUSTOM_VALUE_MAX = 2000
# How much of the custom fields the list search reads: each value's first characters, up to a
# total, so a long free-text answer does not make every search scan it whole.
SEARCH_CUSTOM_VALUE_CHARS = 200
SEARCH_CUSTOM_TOTAL_CHARS = 1000


def custom_search_words(custom_fields: dict | None) -> str:
    """The custom field values as the list search reads them (one line, cut to the limits above)."""
    if not isinstance(custom_fields, dict):
        return ""
    parts, room = [], SEARCH_CUSTOM_TOTAL_CHARS
    for value in custom_fields.values():
        if value is None or room <= 0:
            continue
        text = " ".join(str(value).split())[:min(SEARCH_CUSTOM_VALUE_CHARS, room)]
        if text:
            parts.append(text)
            room -= len(text) + 1
    return " ".join(parts)


def search_text_for(first_name: str, last_name: str, email: str | None, phone: str | None,
                    organization_name: str | None, *, custom_fields: dict | None = None) -> str:
    """What the lead list's search matches a lead by: name, email, organization, phone (with
    and without its +) and the values of its custom fields, lower-cased."""
    parts = [first_name, last_name, email, organization_name]
    if phone:
        parts.append(phone)
        parts.append(phone.lstrip("+"))
    parts.append(custom_search_words(custom_fields))
    return " ".join([p for p in parts if p]).lower()


CONSENT_SOURCE_MAX = 200  # the Lead.consent_source column


def consent_source_text(consent: dict) -> str:
    """'Form “Contact us” — text: I agree… — IP 203.0.113.5', cut to fit the column."""
    where = consent.get("source") or "Unknown source"
    ip = consent.get("ip")
    tail = f" — IP {ip}" if ip else ""
    head = f"{where} — text: "
    room = CONSENT_SOURCE_MAX - len(head) - len(tail)
    text = " ".join(str(consent.get("text") or "").split())
    if len(text) > room:
        text = text[:max(room - 1, 0)] + "…"
    return (head + text + tail)[:CONSENT_SOURCE_MAX]
