"""How a file writes its numbers and dates: detecting the decimal separator of its amounts and
the date format of each date column, and reading a cell with the format chosen.

An amount is read with one decimal separator for the whole file; the other mark (and spaces,
no-break spaces and apostrophes) may group thousands, in groups of three. At most two
decimals. A currency symbol or code may stand before or after the number. Anything else is
not read: "1,234" with a decimal comma is refused, never taken as 1.234 or 1234.

A date column has one format: ISO (``YYYY-MM-DD``, also ``YYYY/MM/DD``), ``dd.mm.yyyy``,
``dd/mm/yyyy`` or ``mm/dd/yyyy``, each with or without a time (``14:30``, ``2:30 PM``,
ISO's ``T14:30:00Z``). When a slash column's days are all 12 or less the two slash formats
read every cell and the person importing is asked.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo

from leadflow.governance.models import CURRENCIES

# --- amounts ----------------------------------------------------------------------------------

DECIMAL_SEPARATORS = {".": "Point (1,234.56)", ",": "Comma (1.234,56)"}
DECIMAL_NAMES = {".": ("point", "1,234.56 or 1234.5"), ",": ("comma", "1.234,56 or 1234,5")}
MAX_UNITS = 10_000_000_000  # as leads.fields.parse_money: an amount must be below this

_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " "})
_SYMBOLS = "$€£¥₹₩₽₺₪฿₫₴₦"
_CURRENCY_SYMBOLS = {"€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
_AFFIX = re.compile(rf"^(?P<pre>(?:[A-Za-z]{{3}}|[A-Z]{{0,2}}[{_SYMBOLS}])?)\s*"
                    rf"(?P<number>-?[0-9][0-9.,' ]*)\s*(?P<post>(?:[A-Za-z]{{3}}|[{_SYMBOLS}])?)$")


def _number_pattern(decimal: str) -> re.Pattern:
    group = "," if decimal == "." else "."
    return re.compile(rf"^(?:(\d{{1,3}}(?:([{re.escape(group)} '])\d{{3}})(?:\2\d{{3}})*)|(\d+))"
                      rf"(?:{re.escape(decimal)}(\d{{1,2}}))?$")


_NUMBERS = {sep: _number_pattern(sep) for sep in DECIMAL_SEPARATORS}
# "1.234" or "2,500": a thousand with a group mark, or a small amount with three decimals.
_ONE_GROUP = re.compile(r"^\d{1,3}[.,]\d{3}$")


class AmountError(ValueError):
    pass


def _split_amount(raw: str) -> tuple[str, str | None]:
    """(the number as written, the currency the cell names or None); AmountError when the
    cell has more than a number and a currency."""
    text = raw.translate(_SPACES).strip()
    match = _AFFIX.match(text)
    if not match:
        raise AmountError("not an amount")
    pre, post = match["pre"], match["post"]
    if pre and post:
        raise AmountError("two currencies")
    currency = None
    for affix in (pre, post):
        if not affix:
            continue
        if affix.isalpha():
            if affix.upper() not in CURRENCIES:
                raise AmountError("unknown currency")
            currency = affix.upper()
        else:
            currency = _CURRENCY_SYMBOLS.get(affix[-1]) if len(affix) == 1 else None
    return match["number"].strip(), currency


def _cents(number: str, decimal: str) -> int | None:
    match = _NUMBERS[decimal].match(number)
    if match is None:
        return None
    grouped, _, plain, decimals = match.groups()
    whole = plain if plain is not None else re.sub(r"[^0-9]", "", grouped)
    return int(whole) * 100 + int((decimals or "0").ljust(2, "0"))


def parse_amount(raw: str, decimal: str) -> tuple[int, str | None]:
    """(cents, currency named in the cell or None) of an amount written with ``decimal`` as
    its decimal separator. Raises AmountError with the reason in a person's words."""
    name, example = DECIMAL_NAMES[decimal]
    unreadable = (f"“{raw[:40]}” is not an amount we can read. Enter an amount such as {example} (this file has "
                  f"a decimal {name}; thousands in groups of three, at most two decimals).")
    try:
        number, currency = _split_amount(raw)
    except AmountError:
        raise AmountError(unreadable) from None
    if number.startswith("-"):
        if _cents(number[1:].strip(), decimal) is not None:
            raise AmountError("The value cannot be negative.")
        raise AmountError(unreadable)
    cents = _cents(number, decimal)
    if cents is None:
        raise AmountError(unreadable)
    if cents >= MAX_UNITS * 100:
        raise AmountError("The value is too large.")
    return cents, currency


def detect_decimal_separator(cells) -> str | None:
    """"." or "," when the amounts say which (every cell that reads one way only reads with
    it); None when they do not ("1.234" and "2,500" read both ways, or cells disagree). A
    column of whole numbers (or none) is "." : both read it alike."""
    point = comma = ambiguous = 0
    for raw in cells:
        raw = raw.strip()
        if not raw:
            continue
        try:
            number, _ = _split_amount(raw)
        except AmountError:
            continue
        number = number.lstrip("-").strip()
        if _ONE_GROUP.match(number):
            ambiguous += 1
            continue
        as_point, as_comma = _cents(number, "."), _cents(number, ",")
        if as_point is not None and as_comma is not None:
            ambiguous += as_point != as_comma
        elif as_point is not None:
            point += 1
        elif as_comma is not None:
            comma += 1
    if point and comma:
        return None
    if point:
        return "."
    if comma:
        return ","
    return None if ambiguous else "."


# --- dates ------------------------------------------------------------------------------------

ISO = "YYYY-MM-DD"
DATE_FORMATS = {
    ISO: "YYYY-MM-DD (2027-11-18)",
    "dd.mm.yyyy": "dd.mm.yyyy (18.11.2027)",
    "dd/mm/yyyy": "dd/mm/yyyy (18/11/2027)",
    "mm/dd/yyyy": "mm/dd/yyyy (11/18/2027)",
}
DATE_TARGETS = ("expected_close_date", "created_at")

_TIME = (r"(?:(?:[ T]|,\s*|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*([AaPp]\.?[Mm]\.?)?"
         r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?)?")
_ISO_DATE = re.compile(rf"^(\d{{4}})([-/.])(\d{{1,2}})\2(\d{{1,2}}){_TIME}$")
_DOT_DATE = re.compile(rf"^(\d{{1,2}})\.(\d{{1,2}})\.(\d{{4}}){_TIME}$")
_SLASH_DATE = re.compile(rf"^(\d{{1,2}})/(\d{{1,2}})/(\d{{4}}){_TIME}$")


class DateError(ValueError):
    pass


class FutureDate(DateError):
    pass


def _match(raw: str, fmt: str) -> tuple[int, int, int, tuple] | None:
    """(year, month, day, time groups) when ``raw`` is written in ``fmt``, else None."""
    if fmt == ISO:
        m = _ISO_DATE.match(raw)
        return (int(m[1]), int(m[3]), int(m[4]), m.groups()[4:]) if m else None
    m = (_DOT_DATE if fmt == "dd.mm.yyyy" else _SLASH_DATE).match(raw)
    if not m:
        return None
    first, second = int(m[1]), int(m[2])
    day, month = (second, first) if fmt == "mm/dd/yyyy" else (first, second)
    return int(m[3]), month, day, m.groups()[3:]


def _zone(text: str | None) -> tzinfo | None:
    if not text:
        return None
    if text in ("Z", "UTC", "GMT"):
        return timezone.utc
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
    return timezone(timedelta(minutes=minutes if text[0] == "+" else -minutes))


def parse_date_cell(raw: str, fmt: str) -> tuple[date, tuple[int, int, int] | None, tzinfo | None]:
    """(the day, (hour, minute, second) or None, the zone the cell names or None)."""
    raw = raw.strip()
    found = _match(raw, fmt)
    if found is None:
        raise DateError(f"“{raw[:40]}” is not a date we can read: it does not match {fmt}.")
    year, month, day, (hour, minute, second, half, zone) = found
    try:
        day_value = date(year, month, day)
    except ValueError:
        raise DateError(f"“{raw[:40]}” is not a date we can read: there is no such day ({fmt}).") from None
    if hour is None:
        return day_value, None, None
    hour, minute, second = int(hour), int(minute), int(second or 0)
    if half:
        if not 1 <= hour <= 12:
            raise DateError(f"“{raw[:40]}” has a time we cannot read ({hour} {half}).")
        hour = hour % 12 + (12 if half[0] in "Pp" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise DateError(f"“{raw[:40]}” has a time we cannot read.")
    try:
        return day_value, (hour, minute, second), _zone(zone)
    except ValueError:
        raise DateError(f"“{raw[:40]}” has a time zone we cannot read.") from None


def parse_moment(raw: str, fmt: str, zone: tzinfo, now: datetime | None = None) -> datetime:
    """The moment a cell names, in UTC: a day alone is its midnight in ``zone``, a time
    without an offset is in ``zone``. DateError when it is in the future."""
    day, time, named_zone = parse_date_cell(raw, fmt)
    hour, minute, second = time or (0, 0, 0)
    moment = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=named_zone or zone)
    moment = moment.astimezone(timezone.utc)
    if moment > (now or datetime.now(timezone.utc)):
        raise FutureDate(f"“{raw[:40]}” is in the future: a lead cannot have been created after today.")
    return moment


def _candidates(raw: str) -> tuple[str, ...]:
    """The formats a cell could be written in (by its shape: 31/02 still counts as dd/mm)."""
    if _ISO_DATE.match(raw):
        return (ISO,)
    if _DOT_DATE.match(raw):
        return ("dd.mm.yyyy",)
    m = _SLASH_DATE.match(raw)
    if not m:
        return ()
    first, second = int(m[1]), int(m[2])
    found = []
    if 1 <= first <= 31 and 1 <= second <= 12:
        found.append("dd/mm/yyyy")
    if 1 <= first <= 12 and 1 <= second <= 31:
        found.append("mm/dd/yyyy")
    return tuple(found)


def detect_date_format(cells) -> str | None:
    """The format a column's dates are written in; None when it cannot be told (every
    slash date reads both as dd/mm/yyyy and mm/dd/yyyy). Cells of no known shape are
    outvoted: the format most cells fit wins (ISO first on a tie; a tie of the two slash
    formats is asked). An empty column is ISO."""
    counts = dict.fromkeys(DATE_FORMATS, 0)
    for raw in cells:
        raw = raw.strip()
        if raw:
            for fmt in _candidates(raw):
                counts[fmt] += 1
    best = max(counts.values())
    if best == 0:
        return ISO
    winners = [fmt for fmt, count in counts.items() if count == best]
    if winners == ["dd/mm/yyyy", "mm/dd/yyyy"]:
        return None
    return winners[0]
