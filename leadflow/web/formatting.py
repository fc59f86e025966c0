"""Every date and time a person reads is formatted here, and money and people too.

Times are stored in UTC. A person reads a time in their own time zone: on a page the
signed-in user's, unless the page passes ``zone`` to say whose it shows (a rep's "My work"
seen by a manager says so); in an e-mail the recipient's (``render_mail`` passes it). In a
file a time carries its UTC offset (``iso_with_offset``). Templates use the filters
registered below (``when``, ``day``, ``when_zoned``, ``iso``, ``ago``, ``zone_label``),
never ``strftime`` themselves.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Flask, g, has_request_context, request, url_for
from jinja2 import pass_context

from leadflow.accounts.zones import UTC_ZONE, user_zone
# The shapes a time takes on screen and in mail; every one reads the same way.
STYLES = {
    "datetime": "%a %d %b %Y, %H:%M",  # Wed 02 Dec 2026, 09:48
    "short": "%a %d %b, %H:%M",        # Wed 02 Dec, 09:48
    "time": "%H:%M",                   # 09:48
    "date": "%a %d %b %Y",             # Wed 02 Dec 2026
    "long_date": "%A %d %B %Y",        # Wednesday 02 December 2026
}


# --- time zones ---------------------------------------------------------------------------

def viewer_zone() -> ZoneInfo:
    """The time zone of whoever is signed in to this request; UTC outside a request.

    Kept for the request while the same user with the same zone setting is signed in: a list
    page formats a hundred times, and each look-up through ``current_user`` costs."""
    if not has_request_context():
        return UTC_ZONE
    from flask_login import current_user

    user = current_user._get_current_object()
    setting = getattr(user, "timezone", None)
    kept = g.get("_viewer_zone")
    if kept is not None and kept[0] is user and kept[1] == setting:
        return kept[2]
    zone = user_zone(user) if user.is_authenticated else UTC_ZONE
    g._viewer_zone = (user, setting, zone)
    return zone


def utc_offset(zone: tzinfo, at: datetime | None = None) -> str:
    """``UTC+05:30`` / ``UTC-05:00``: the zone's offset at ``at`` (now when not given)."""
    offset = (at or datetime.now(timezone.utc)).astimezone(zone).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def zone_label(zone: tzinfo, at: datetime | None = None) -> str:
    """``Europe/Berlin (UTC+01:00)``; plain ``UTC`` for UTC."""
    name = getattr(zone, "key", None) or str(zone)
    offset = utc_offset(zone, at)
    return "UTC" if name == "UTC" and offset == "UTC+00:00" else f"{name} ({offset})"


def in_your_zone(zone: tzinfo, at: datetime | None = None) -> str:
    """What a form field that takes a time says about the zone it reads it in."""
    return f"In your time zone, {zone_label(zone, at)}."


# --- formatting ---------------------------------------------------------------------------

def format_time(value: datetime | date | None, zone: tzinfo, style: str = "datetime") -> str:
    """A moment as the reader in ``zone`` reads it; a calendar date (no time) as it is."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(zone).strftime(STYLES[style])
    return value.strftime(STYLES["long_date" if style == "long_date" else "date"])


def format_day(value: datetime | date | None, zone: tzinfo) -> str:
    """The reader's calendar day of a moment (or a date as it is)."""
    return format_time(value, zone, "date")


def format_zoned(value: datetime | None, zone: tzinfo, style: str = "datetime") -> str:
    """A moment with its zone named, for e-mails and forms: ``Mon 02 Mar 2026, 09:30 Europe/Paris (UTC+01:00)``."""
    if value is None:
        return "—"
    return f"{format_time(value, zone, style)} {zone_label(zone, value)}"


# What the audit log writes for a date or a moment (``date.isoformat()``, ``datetime.isoformat()``).
_STORED_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2})?)?")


def format_stored(text: str | None, zone: tzinfo) -> str:
    """A value kept as text (the audit log's old and new values): a date or a moment in it
    reads like every other time; anything else as it is."""
    if text and _STORED_TIME.fullmatch(text):
        try:
            value = datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
        except ValueError:
            return text
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)  # stored times are UTC
        return format_time(value, zone)
    return text or "—"


# A moment with its offset inside kept text (``iso_with_offset`` wrote it when no reader was known).
_MOMENT_IN_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}")


def format_moments_in(text: str, zone: tzinfo, style: str = "date") -> str:
    """Text kept for later (a note written before anyone read it) with each moment in it
    (ISO 8601 with an offset) shown as the reader in ``zone`` reads it."""
    return _MOMENT_IN_TEXT.sub(lambda m: format_time(datetime.fromisoformat(m.group(0)), zone, style), text)


def iso_with_offset(value: datetime | None, zone: tzinfo = UTC_ZONE) -> str:
    """A moment for a file (CSV, API): ISO 8601 with its UTC offset, ``2026-12-02T09:48:00-05:00``."""
    return value.astimezone(zone).isoformat(timespec="seconds") if value is not None else ""


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    seconds = int(((now or datetime.now(timezone.utc)) - value).total_seconds())
    if seconds < 0:
        return "in the future"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def due_text(due_at: datetime, zone: tzinfo, now: datetime) -> str:
    """When a task is due, in words relative to the reader's today: "today 14:00", "tomorrow",
    "Mon 3 Mar", and for overdue tasks how late ("overdue · 2 days")."""
    local = due_at.astimezone(zone)
    today = now.astimezone(zone).date()
    clock = local.strftime(STYLES["time"])
    day = local.date()
    if due_at < now:
        late = (today - day).days
        if late <= 0:
            return f"overdue · today {clock}"
        return f"overdue · {late} day{'s' if late != 1 else ''}"
    if day == today:
        return f"today {clock}"
    if day == today + timedelta(days=1):
        return f"tomorrow {clock}"
    if day < today + timedelta(days=7):
        return local.strftime("%a ") + clock
    return f"{local.strftime('%a')} {day.day} {local.strftime('%b')}" + (
        f" {day.year}" if day.year != today.year else "")


def local_input_value(at: datetime | None, zone: tzinfo) -> str:
    """A stored time as a ``datetime-local`` input shows it, in the reader's time zone."""
    return at.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if at else ""


def local_today(zone: tzinfo, now: datetime | None = None) -> date:
    return (now or datetime.now(timezone.utc)).astimezone(zone).date()


# --- the template side: the zone is the page's ``zone`` or the signed-in reader's ----------

def _zone(ctx) -> tzinfo:
    zone = ctx.get("zone")
    return zone if isinstance(zone, tzinfo) else viewer_zone()


def in_reader_zone(format_value):
    """A template filter of ``format_value(value, zone, *args)`` in the page's reader's zone."""
    @pass_context
    def template_filter(ctx, value, *args):
        return format_value(value, _zone(ctx), *args)

    return template_filter


@pass_context
def zone_label_global(ctx, at: datetime | None = None) -> str:
    return zone_label(_zone(ctx), at)


@pass_context
def reader_zone(ctx) -> tzinfo:
    """The zone the page's times are read in (for a helper that formats text itself)."""
    return _zone(ctx)


@pass_context
def today_iso(ctx) -> str:
    """Today's date in the reader's zone, as a date input wants it."""
    return local_today(_zone(ctx)).isoformat()


# --- money, people, links -----------------------------------------------------------------

MONEY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


def money(cents: int | None, currency: str = "USD", *, exact: bool = False) -> str:
    """"$1,250", "1,250.50 CAD"; ``exact`` keeps whole amounts' cents ("€2,500.00"), as an
    import's preview shows what it read from a cell."""
    if cents is None:
        return "—"
    amount = Decimal(cents) / 100
    text = f"{amount:,.2f}"
    if text.endswith(".00") and not exact:
        text = text[:-3]
    symbol = MONEY_SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


_ANY_ID = 2_147_483_647  # stands for a row's id in url_pattern's patterns


def url_pattern(endpoint: str, **args) -> str:
    """``url_for(endpoint, lead_id=…)`` as a ``str.format`` pattern ({} is the id), built once
    for a page that links many rows: a ``url_for`` per row costs more than the row's other work."""
    return url_for(endpoint, lead_id=_ANY_ID, **args).replace(str(_ANY_ID), "{}")


def url_with(**changes) -> str:
    """The current URL with some query arguments replaced (None removes one)."""
    args = request.args.to_dict(flat=False)
    for key, value in changes.items():
        if value is None or value == "":
            args.pop(key, None)
        else:
            args[key] = [value]
    query = urlencode(args, doseq=True)
    return request.path + ("?" + query if query else "")


def register(app: Flask) -> None:
    app.add_template_global(today_iso, "today_iso")
    app.add_template_filter(money, "money")
    # {{ at|when }} "Wed 02 Dec 2026, 09:48", {{ at|when('short'|'time'|'date'|'long_date') }},
    # {{ at|day }} the reader's day, {{ at|when_zoned }} with the zone named, {{ at|iso }} with its offset.
    app.add_template_filter(in_reader_zone(format_time), "when")
    app.add_template_filter(in_reader_zone(format_day), "day")
    app.add_template_filter(in_reader_zone(format_zoned), "when_zoned")
    app.add_template_filter(in_reader_zone(iso_with_offset), "iso")
    app.add_template_filter(in_reader_zone(format_stored), "stored")
    app.add_template_filter(ago, "ago")
    app.add_template_global(zone_label_global, "zone_label")
    app.add_template_global(reader_zone, "reader_zone")
    app.add_template_global(url_with, "url_with")
    app.add_template_global(url_pattern, "url_pattern")

