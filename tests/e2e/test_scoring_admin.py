"""An admin adds a fit rule in the browser, rescores every lead from the notice that scores
are out of date, and sees the rule in a lead's score breakdown; the rules list is reordered
by keyboard and fits a phone screen."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e


def test_a_new_fit_rule_scores_an_existing_lead_after_rescoring_all(page, live_db):
    lead_id, title = live_db("SELECT id, title FROM leads WHERE deleted_at IS NULL AND title IS NOT NULL "
                             "AND title != '' ORDER BY id LIMIT 1")[0]
    name = f"Title is {title} {uuid.uuid4().hex[:6]}"
    sign_in(page)
    page.goto("/settings/scoring")
    page.get_by_role("button", name="Add a rule").first.click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Looks at").select_option(label="Fit (a lead field)")
    page.get_by_label("Points", exact=True).fill("25")
    page.get_by_label("Lead field").select_option(label="Job title")
    page.get_by_label("Comparison").select_option(label="equals")
    page.get_by_label("Value", exact=True).fill(title)
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator(".flash").first).to_contain_text(f"Rule “{name}” added.")

    notice = page.locator("#scores-stale")
    expect(notice).to_contain_text("Scores were computed before your last change")
    notice.get_by_role("button", name="Rescore all leads").click()
    expect(page.locator("#scores-stale")).to_have_count(0)
    expect(page.locator("#rescore-status")).to_contain_text(re.compile("Rescoring all leads|Last rescore"))
    _wait_for_latest_rescore(live_db)

    page.goto(f"/leads/{lead_id}")
    row = page.locator("#score-breakdown tr", has_text=name)
    expect(row).to_contain_text(f"Job title: {title}")
    expect(row).to_contain_text("+25")
    (score,), = live_db("SELECT score FROM leads WHERE id = ?", (lead_id,))
    expect(page.locator("#score-title .badge")).to_have_text(str(score))
    assert score >= 25

    _delete_rule(page, name)


def test_rules_are_reordered_by_keyboard_and_the_page_fits_a_phone(new_page):
    page = new_page(viewport={"width": 375, "height": 812})
    sign_in(page)
    names = [f"Order {tag} {uuid.uuid4().hex[:6]}" for tag in ("A", "B")]
    for name in names:
        page.goto("/settings/scoring/rules/new?category=inactivity")
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label("Points", exact=True).fill("-5")
        page.get_by_label("Days without activity").fill("400")
        page.get_by_role("button", name="Add rule").click()
        expect(page.locator(".flash").first).to_contain_text(f"Rule “{name}” added.")

    expect(page.get_by_role("button", name=f"Move down: rule {names[1]}")).to_be_disabled()  # the last one
    page.get_by_role("button", name=f"Move up: rule {names[1]}").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".flash").first).to_contain_text(f"Rule “{names[1]}” moved up.")
    rows = page.locator("tbody tr", has_text=re.compile("|".join(names)))
    expect(rows.nth(0)).to_contain_text(names[1])
    expect(rows.nth(1)).to_contain_text(names[0])
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    for name in names:
        _delete_rule(page, name)


def _wait_for_latest_rescore(live_db, seconds: float = 30) -> None:
    """The rescore runs in the server's background; wait until the newest job is done."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        (status,), = live_db("SELECT status FROM rescore_jobs ORDER BY id DESC LIMIT 1")
        if status == "done":
            return
        time.sleep(0.2)
    raise AssertionError(f"the rescore did not finish within {seconds} s (status {status})")


def _delete_rule(page, name: str) -> None:
    page.goto("/settings/scoring")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Delete rule {name}").click()
    expect(page.locator(".flash").first).to_contain_text(f"Rule “{name}” deleted.")
