"""A manager writes an e-mail template with a live preview and finds the demo nurture sequence."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e


def test_template_preview_updates_as_you_type_and_the_sequence_page_works_on_a_phone(page, live_server):
    sign_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sequences").click()
    page.get_by_role("link", name="E-mail templates").click()
    page.get_by_role("button", name="New template").click()
    name = f"Check-in {uuid.uuid4().hex[:6]}"
    page.get_by_label(re.compile(r"^Name")).fill(name)
    page.get_by_label(re.compile(r"^Subject")).fill("Checking in, {{ first_name }}")
    page.get_by_label(re.compile(r"^Message")).fill("Hi {{ first_name }} {{ shoe_size }}, see https://example.com")
    page.get_by_label("Preview for lead").select_option(index=1)
    preview = page.locator("#template-preview")
    expect(preview).to_contain_text("Checking in, ")
    expect(preview).to_contain_text("Unknown merge field: shoe_size")
    expect(preview.get_by_role("link", name="https://example.com")).to_be_visible()
    page.get_by_role("button", name="Save template").click()
    expect(page.locator(".flash").first).to_contain_text(f"Template “{name}” created.")

    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{live_server}/sequences/")
    page.get_by_role("link", name="New lead nurture").click()
    expect(page.get_by_role("heading", name="Steps")).to_be_visible()
    expect(page.locator("ol.steps")).to_contain_text("Wait 3 days")
    expect(page.get_by_role("button", name="Add step")).to_be_visible()
