"""Fixtures for capture tests: a saved form and a helper that posts like a browser would."""

from __future__ import annotations

import re

import pytest

from leadflow.capture import forms as builder_forms
from leadflow.capture import services
from leadflow.extensions import db
from leadflow.pipeline.services import ensure_default_pipeline


def builder_data(**overrides) -> dict:
    """The builder's plain input for a form with name, email, phone, company and a message."""
    data = builder_forms.blank_builder_input()
    data.update(name="Contact us", slug="contact-us")
    for row in data["standard"]:
        row["include"] = row["key"] in ("first_name", "last_name", "email", "phone", "organization")
        row["required"] = row["key"] in ("first_name", "email")
    data["custom"] = [{"key": "message", "label": "Message", "type": "textarea", "options": "", "required": False,
                       "order": 20, "remove": False}]
    data.update(overrides)
    return data


@pytest.fixture
def make_form(app, make_user):
    def _make(**overrides):
        ensure_default_pipeline()
        admin = make_user("admin")
        form = services.create_form(admin, builder_data(**overrides))
        db.session.commit()
        return form

    return _make


@pytest.fixture
def capture_form(make_form, app):
    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    return make_form()


def form_token(client, slug: str, query: str = "") -> str:
    page = client.get(f"/f/{slug}{query}").get_data(as_text=True)
    match = re.search(r'name="form_token" value="([^"]+)"', page)
    assert match, "no form token in the page"
    return match.group(1)
