"""Settings → Workspace: an admin names the workspace and picks the default phone region
and currency; bad values are refused with a message and save nothing."""

from __future__ import annotations

import pytest

from leadflow.extensions import db
from leadflow.governance.models import AuditEntry, Setting
from leadflow.governance.settings import get_setting

VALID = {"workspace_name": "Acme Sales", "default_phone_region": "GB", "default_currency": "EUR"}


def _settings() -> dict:
    db.session.expire_all()
    return {key: get_setting(key) for key in VALID}


def test_the_page_shows_the_current_settings(app, login_as):
    _, client = login_as("admin")
    response = client.get("/settings")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'value="LeadFlow"' in html
    assert '<option selected value="US">' in html or 'value="US" selected' in html
    for field in VALID:
        assert f'for="{field}"' in html


def test_defaults_come_from_config_until_an_admin_saves(app, monkeypatch):
    monkeypatch.setitem(app.config, "DEFAULT_PHONE_REGION", "DE")
    assert get_setting("default_phone_region") == "DE"
    assert get_setting("workspace_name") == "LeadFlow"
    assert get_setting("default_currency") == "USD"


def test_saving_the_settings_keeps_them_and_audits_the_change(app, login_as):
    admin, client = login_as("admin")
    response = client.post("/settings", data=VALID)
    assert response.status_code == 302 and response.headers["Location"] == "/settings"
    assert _settings() == VALID
    page = client.get("/settings").get_data(as_text=True)
    assert "Workspace settings saved." in page
    assert "<title>Settings · Acme Sales</title>" in page  # the workspace name shows everywhere
    entries = {(e.field, e.old_value, e.new_value, e.actor_id) for e in db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.entity_type == "setting"))}
    assert ("default_phone_region", "US", "GB", admin.id) in entries
    assert ("workspace_name", "LeadFlow", "Acme Sales", admin.id) in entries


def test_saving_twice_updates_in_place(app, login_as):
    _, client = login_as("admin")
    client.post("/settings", data=VALID)
    client.post("/settings", data={**VALID, "default_phone_region": "FR"})
    assert _settings()["default_phone_region"] == "FR"
    assert db.session.scalar(db.select(db.func.count()).select_from(Setting)) == 3


@pytest.mark.parametrize("change, message", [
    ({"workspace_name": ""}, "Enter a workspace name."),
    ({"workspace_name": "   "}, "Enter a workspace name."),
    ({"workspace_name": "x" * 81}, "Field cannot be longer than 80 characters."),
    ({"default_phone_region": "ZZ"}, "Not a valid choice"),
    ({"default_phone_region": ""}, "Not a valid choice"),
    ({"default_currency": "XXX"}, "Not a valid choice"),
])
def test_bad_values_are_refused_and_nothing_is_saved(app, login_as, change, message):
    _, client = login_as("admin")
    before = _settings()
    response = client.post("/settings", data={**VALID, **change})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _settings() == before
    assert db.session.scalar(db.select(db.func.count()).select_from(Setting)) == 0


def test_lead_phone_numbers_use_the_default_region_from_settings(app, login_as):
    from leadflow.leads import services as lead_services

    admin, client = login_as("admin")
    assert client.post("/settings", data={**VALID, "default_phone_region": "GB"}).status_code == 302
    db.session.expire_all()
    lead = lead_services.create_lead(admin, {"first_name": "Grace", "last_name": "London",
                                             "phone": "020 7946 0018"})
    assert lead.phone == "+442079460018"

    assert client.post("/settings", data={**VALID, "default_phone_region": "DE"}).status_code == 302
    db.session.expire_all()
    lead = lead_services.create_lead(admin, {"first_name": "Greta", "last_name": "Berlin",
                                             "phone": "030 901820"})
    assert lead.phone == "+4930901820"


def test_a_number_with_its_country_code_ignores_the_default_region(app, login_as):
    from leadflow.leads import services as lead_services

    admin, client = login_as("admin")
    assert client.post("/settings", data={**VALID, "default_phone_region": "GB"}).status_code == 302
    db.session.expire_all()
    lead = lead_services.create_lead(admin, {"first_name": "Ulla", "last_name": "US",
                                             "phone": "+1 415 555 0132"})
    assert lead.phone == "+14155550132"


def test_region_list_names_the_calling_code(app, login_as):
    _, client = login_as("admin")
    html = client.get("/settings").get_data(as_text=True)
    assert "GB (+44)" in html and "US (+1)" in html
