"""An admin adds a routing rule in the browser and moves it to the top by keyboard; a lead sent
in through the REST API goes to the rule's person, and the lead's timeline names the rule."""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e


def test_a_lead_from_the_api_is_assigned_by_the_new_rule_and_its_timeline_says_so(page, live_server, live_db):
    name = f"Portugal to one rep {uuid.uuid4().hex[:6]}"
    sign_in(page)
    page.goto("/settings/routing")
    page.get_by_role("button", name="Add rule").click()
    page.get_by_label("Rule name").fill(name)
    page.get_by_label("Country is one of").fill("PT")
    page.get_by_label("A person").check()
    person = page.get_by_label("Person", exact=True)
    person.select_option(index=1)
    owner_id = int(person.input_value())
    owner_name = person.locator("option:checked").inner_text().strip()
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator(".flash").first).to_contain_text(f"Routing rule {name} saved.")

    move_up = page.get_by_role("button", name=f"Move up: {name}")
    while move_up.is_enabled():  # to the top, above every other rule
        move_up.focus()
        page.keyboard.press("Enter")
        expect(page.locator(".flash").first).to_contain_text(f"Rule {name} moved up.")
    expect(page.locator("tbody tr").first).to_contain_text(name)

    email = f"routed-{uuid.uuid4().hex[:8]}@example.com"
    token = _create_api_token(page)
    request = urllib.request.Request(
        f"{live_server}/api/v1/leads", method="POST",
        data=json.dumps({"first_name": "Rosa", "last_name": "Routed", "email": email, "country": "PT"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201

    # The answer comes first; the lead is routed right after the commit (leads.arrivals).
    deadline = time.monotonic() + 15
    while True:
        (lead_id, lead_owner), = live_db("SELECT id, owner_id FROM leads WHERE email = ?", (email,))
        if lead_owner is not None or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert lead_owner == owner_id
    page.goto(f"/leads/{lead_id}")
    expect(page.locator("#timeline")).to_contain_text(re.compile(
        rf"Assigned to {re.escape(owner_name)} by rule .{re.escape(name)}. \(direct\)"))

    page.goto("/settings/routing")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Delete {name}").click()
    expect(page.locator(".flash").first).to_contain_text(f"Routing rule {name} deleted.")


def _create_api_token(page) -> str:
    """An API token made in Settings → API tokens, read from the page that shows it once."""
    page.goto("/settings/api-tokens")
    page.get_by_label(re.compile(r"^Name")).fill(f"Routing test {uuid.uuid4().hex[:6]}")
    page.get_by_role("button", name="Create token").click()
    return page.locator("#new-token-value").input_value()
