"""Workspace settings stored in the database, with defaults from config."""

from __future__ import annotations

import copy
from collections.abc import Callable

import phonenumbers
from flask import Flask, current_app, g

from leadflow.db import transaction_cache
from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.governance.audit import record_changes
from leadflow.governance.models import Setting
from leadflow.web import refcache

DEFAULTS = {
    "workspace_name": "LeadFlow",
    "default_phone_region": None,  # falls back to config DEFAULT_PHONE_REGION
    "default_currency": "USD",
    "base_currency": None,  # totals are shown in it; unset, the default currency (leadflow/governance/money.py)
    "board_card_fields": [],  # extra fields on board cards: tags, source, expected_close_date, score
    # Alerts and the morning digest (see leadflow/leads/alerts.py and leadflow/activities/digests.py).
    "speed_to_lead_minutes": 5,  # alert the owner when a new lead has had no response for this long
    "escalate_after_minutes": 30,  # then alert managers and admins
    "stale_after_days": 14,  # a lead with no activity for this long is stale (digest, board)
    "digest_hour": 8,  # the morning digest goes at this hour, in each user's own time zone
    "routing_fallback_owner_id": None,  # new leads no routing rule places go to this user (see leadflow/routing)
}
# Bounds of the numeric settings: (lowest, highest, message when outside).
ALERT_SETTING_BOUNDS = {
    "speed_to_lead_minutes": (1, 1440, "Enter a number of minutes from 1 to 1440 (a day)."),
    "escalate_after_minutes": (1, 10080, "Enter a number of minutes from 1 to 10080 (a week)."),
    "stale_after_days": (1, 365, "Enter a number of days from 1 to 365."),
    "digest_hour": (0, 23, "Enter an hour from 0 to 23."),
}


def get_setting(key: str):
    return get_settings(key)[key]


def workspace_name() -> str:
    """The workspace's name, read once per request (every page shows it)."""
    if "workspace_name" not in g:
        g.workspace_name = get_setting("workspace_name") or "LeadFlow"
    return g.workspace_name


def register_template_helpers(app: Flask) -> None:
    app.add_template_global(workspace_name, "workspace_name")


_LOADED = " loaded"  # no setting has this key (keys are names without spaces)


def get_settings(*keys: str) -> dict:
    """Settings by key; a key without a row has its default.

    Every value (a handful) is kept for the process while no setting changes (``refcache``)
    and copied into the transaction at its first read, where ``write_setting`` shows its
    changes to the reads after it."""
    values = transaction_cache("settings", forget_when_adding=Setting)
    if _LOADED not in values:
        stored = refcache.cached(("settings",), "settings", lambda: {
            row.key: row.value for row in db.session.scalars(db.select(Setting))})
        values = transaction_cache("settings")
        values.update(copy.deepcopy(stored), **{_LOADED: None})
    return {key: values[key] if key in values else _default(key) for key in keys}


def _default(key: str):
    if key == "default_phone_region":
        return current_app.config.get("DEFAULT_PHONE_REGION", "US")
    return DEFAULTS.get(key)


# Work an area does when a setting changes (``on_change``, connected in ``leadflow.wiring``).
_LISTENERS: dict[str, list[Callable[[], None]]] = {}


def on_change(key: str, listener: Callable[[], None]) -> None:
    """Call ``listener()`` whenever ``key`` is set to a new value (once per listener)."""
    listeners = _LISTENERS.setdefault(key, [])
    if listener not in listeners:
        listeners.append(listener)


def write_setting(key: str, value) -> None:
    """Store a setting's value, and show it to the reads of this transaction (no audit entry:
    ``set_setting`` is a person's change; areas with settings of their own record theirs)."""
    row = db.session.get(Setting, key)
    if row is None:
        row = Setting(key=key, value=value)
        db.session.add(row)
    else:
        row.value = value
    kept = transaction_cache("settings")
    if _LOADED in kept:
        kept[key] = value


def set_setting(actor, key: str, value) -> None:
    if key not in DEFAULTS:
        raise ValidationFailed({key: ["Unknown setting."]})
    old = get_setting(key)
    write_setting(key, value)
    record_changes(actor, "setting", 0, {key: old}, {key: value})
    if value != old:
        for listener in _LISTENERS.get(key, ()):
            listener()


def phone_regions() -> list[tuple[str, str]]:
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    return [(r, f"{r} (+{phonenumbers.country_code_for_region(r)})") for r in regions]


def update_workspace(actor, *, workspace_name: str, default_phone_region: str, default_currency: str,
                     **alerts) -> None:
    """Save the workspace settings; ``alerts`` are the optional alert and digest settings
    (see ``update_alert_settings``). Every error is reported at once and nothing is saved."""
    errors: dict[str, list[str]] = {}
    if not workspace_name.strip():
        errors["workspace_name"] = ["Enter a workspace name."]
    if default_phone_region not in phonenumbers.SUPPORTED_REGIONS:
        errors["default_phone_region"] = ["Choose a region from the list."]
    _, alert_errors = _checked_alert_settings(alerts)
    errors.update(alert_errors)
    if errors:
        raise ValidationFailed(errors)
    set_setting(actor, "workspace_name", workspace_name.strip()[:80])
    set_setting(actor, "default_phone_region", default_phone_region)
    set_setting(actor, "default_currency", default_currency)
    update_alert_settings(actor, **alerts)


def alert_settings() -> dict[str, int]:
    return {key: int(get_setting(key)) for key in ALERT_SETTING_BOUNDS}


def _checked_alert_settings(values: dict) -> tuple[dict[str, int], dict[str, list[str]]]:
    current = alert_settings()
    wanted = {key: current[key] if values.get(key) is None else values[key] for key in ALERT_SETTING_BOUNDS}
    errors: dict[str, list[str]] = {}
    for key, (low, high, message) in ALERT_SETTING_BOUNDS.items():
        if not isinstance(wanted[key], int) or not low <= wanted[key] <= high:
            errors[key] = [message]
    if not errors and wanted["escalate_after_minutes"] <= wanted["speed_to_lead_minutes"]:
        errors["escalate_after_minutes"] = ["Escalate later than the speed-to-lead alert, so the owner hears first."]
    return wanted, errors


def update_alert_settings(actor, **values) -> None:
    """Change some of the alert and digest settings; a value left out (None) keeps its current one."""
    current = alert_settings()
    wanted, errors = _checked_alert_settings(values)
    if errors:
        raise ValidationFailed(errors)
    for key, value in wanted.items():
        if value != current[key]:
            set_setting(actor, key, value)
