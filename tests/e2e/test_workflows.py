"""An admin builds a workflow rule in the browser: only the fields the chosen action uses show."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.e2e.conftest import sign_in


def test_admin_builds_a_rule_with_the_keyboard_friendly_editor(page, live_server):
    sign_in(page)
    page.goto(f"{live_server}/settings/workflows/new")
    name = f"Tag referrals {uuid.uuid4().hex[:6]}"
    page.get_by_label("Name").fill(name)
    page.get_by_label("Trigger").select_option(label="A lead is created")
    expect(page.get_by_label("Score threshold (for “score rises”)")).to_be_hidden()
    page.get_by_label("Does").select_option(label="Add a tag")
    expect(page.get_by_label("Tag (add a tag)")).to_be_visible()
    expect(page.get_by_label("Webhook address (call a webhook)")).to_be_hidden()
    page.get_by_label("Tag (add a tag)").fill("referral")
    page.get_by_role("button", name="Add a condition").click()
    page.get_by_label("Condition 1: field").select_option(label="Owner")
    expect(page.get_by_label("Owner (when the field is Owner)")).to_be_visible()
    expect(page.get_by_label("Value", exact=True)).to_be_hidden()
    page.get_by_label("Condition 1: field").select_option(label="Stage")
    expect(page.get_by_label("Stage (when the field is Stage)")).to_be_visible()
    expect(page.get_by_label("Owner (when the field is Owner)")).to_be_hidden()
    page.get_by_label("Condition 1: field").select_option(label="Source")
    expect(page.get_by_label("Stage (when the field is Stage)")).to_be_hidden()
    page.get_by_label("Value", exact=True).fill("referral")
    page.get_by_label("Tag (add a tag)").press("Enter")  # Enter saves the rule
    expect(page.get_by_role("alert").or_(page.locator(".flash")).first).to_contain_text(f"Rule “{name}” created.")
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{live_server}/settings/workflows")
    expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    page.get_by_role("button", name=f"Pause rule {name}").click()
    expect(page.locator("body")).to_contain_text("paused")
