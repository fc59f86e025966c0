"""Workspace settings stored in the database, with defaults from config."""

from __future__ import annotations

import phonenumbers
from flask import current_app

from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.governance.models import Setting

DEFAULTS = {
    "workspace_name": "LeadFlow",
    "default_phone_region": None,  # falls back to config DEFAULT_PHONE_REGION
    "default_currency": "USD",
    "board_card_fields": [],  # extra fields on board cards: tags, source, expected_close_date, score
}


def get_setting(key: str):
    row = db.session.get(Setting, key)
    if row is not None:
        return row.value
    if key == "default_phone_region":
        return current_app.config.get("DEFAULT_PHONE_REGION", "US")
    return DEFAULTS.get(key)


def set_setting(actor, key: str, value) -> None:
    from leadflow.governance.audit import record_changes

    if key not in DEFAULTS:
        raise ValidationFailed({key: ["Unknown setting."]})
    old = get_setting(key)
    row = db.session.get(Setting, key)
    if row is None:
        row = Setting(key=key, value=value)
        db.session.add(row)
    else:
        row.value = value
    record_changes(actor, "setting", 0, {key: old}, {key: value})


def phone_regions() -> list[tuple[str, str]]:
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    return [(r, f"{r} (+{phonenumbers.country_code_for_region(r)})") for r in regions]


def update_workspace(actor, *, workspace_name: str, default_phone_region: str, default_currency: str) -> None:
    errors: dict[str, list[str]] = {}
    if not workspace_name.strip():
        errors["workspace_name"] = ["Enter a workspace name."]
    if default_phone_region not in phonenumbers.SUPPORTED_REGIONS:
        errors["default_phone_region"] = ["Choose a region from the list."]
    if errors:
        raise ValidationFailed(errors)
    set_setting(actor, "workspace_name", workspace_name.strip()[:80])
    set_setting(actor, "default_phone_region", default_phone_region)
    set_setting(actor, "default_currency", default_currency)
