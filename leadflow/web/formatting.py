"""Jinja filters for dates, money and people, registered once for every template."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from urllib.parse import urlencode

from flask import Flask, request


def money(cents: int | None, currency: str = "USD") -> str:
    if cents is None:
        return "—"
    amount = Decimal(cents) / 100
    text = f"{amount:,.2f}"
    if text.endswith(".00"):
        text = text[:-3]
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def when(value: datetime | date | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime(fmt + (" UTC" if "%H" in fmt else ""))
    return value.strftime("%Y-%m-%d")


def ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = int((datetime.now(timezone.utc) - value).total_seconds())
    if seconds < 0:
        return "in the future"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


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


def phone(e164: str | None) -> str:
    from leadflow.leads.fields import display_phone

    return display_phone(e164)


def lifecycle_label(key: str | None) -> str:
    from leadflow.leads.models import LIFECYCLE_LABELS

    return LIFECYCLE_LABELS.get(key or "", key or "—")


def today_iso() -> str:
    return date.today().isoformat()


def register(app: Flask) -> None:
    app.add_template_global(today_iso, "today_iso")
    app.add_template_filter(phone, "phone")
    app.add_template_global(lifecycle_label, "lifecycle_label")
    app.add_template_filter(money, "money")
    app.add_template_filter(when, "when")
    app.add_template_filter(ago, "ago")
    app.add_template_global(url_with, "url_with")
    app.add_template_global(workspace_name, "workspace_name")


def workspace_name() -> str:
    from flask import g

    if "workspace_name" not in g:
        from leadflow.governance.settings import get_setting

        g.workspace_name = get_setting("workspace_name") or "LeadFlow"
    return g.workspace_name
