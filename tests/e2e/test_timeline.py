"""The timeline and next steps in a real browser: log a call in place, plan the next step
from the prompt, and find it on "My work"."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e


def _new_lead(page) -> tuple[str, str]:
    """A lead made through the form, so it surely has no next step yet: (name, page URL)."""
    first, last = "Timeline", f"Tester{uuid.uuid4().hex[:6]}"
    page.goto("/leads/new")
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    page.get_by_label("Email").fill(f"{last.lower()}@example.org")
    page.locator("main form button[type=submit]").last.click()
    expect(page).to_have_url(re.compile(r"/leads/\d+$"))
    return f"{first} {last}", page.url


def test_log_a_call_plan_the_next_step_and_see_it_on_my_work(page):
    sign_in(page)
    name, lead_url = _new_lead(page)
    expect(page.locator("#lead-response")).to_contain_text("Awaiting first response")
    page.evaluate("window.__e2eSameDocument = true")

    # Log a call: the entry appears at the top of the timeline without a reload.
    log = page.locator("#log-activity")
    log.get_by_label("What happened").select_option("call")
    log.get_by_label("Call outcome").select_option("connected")
    log.get_by_label("Duration (minutes)").fill("12")
    log.get_by_label("Notes").fill("Talked budget and timing")
    log.get_by_role("button", name="Log it").click()
    first_entry = page.locator("#timeline-entries > li").first
    expect(first_entry).to_contain_text("Talked budget and timing")
    expect(first_entry).to_contain_text("Connected")
    expect(page.locator("#log-activity")).to_contain_text("Call logged.")
    expect(page.locator("#lead-response")).to_contain_text("Time to first response")

    # The lead had no next step: the prompt opens, pre-filled.
    tasks = page.locator("#lead-tasks")
    expect(tasks).to_contain_text("What is the next step?")
    title = tasks.get_by_label("Next step")
    expect(title).to_have_value(f"Follow up with {name}")
    expect(title).to_be_focused()
    title.fill(f"Send proposal to {name}")
    tasks.get_by_role("button", name="Add next step").click()
    expect(page.locator("#lead-tasks .task-list")).to_contain_text(f"Send proposal to {name}")
    expect(page.locator("#lead-tasks")).to_contain_text("Next step added")
    assert page.evaluate("window.__e2eSameDocument === true"), "logging or planning reloaded the page"

    # It is on My work, under Upcoming (due tomorrow morning in my timezone).
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My work").click()
    expect(page.get_by_role("heading", name="My work", level=1)).to_be_visible()
    upcoming = page.locator("section.work-upcoming")
    expect(upcoming).to_contain_text(f"Send proposal to {name}")
    expect(upcoming.get_by_role("link", name=name)).to_be_visible()

    # Done from My work: the row shows it at once, and the lead's timeline has the entry.
    upcoming.get_by_role("button", name=f"Mark Send proposal to {name} done").click()
    expect(upcoming.locator(".task-done")).to_contain_text("(done)")
    page.goto(lead_url)
    expect(page.locator("#timeline-entries")).to_contain_text("Task done")


def test_my_work_fits_a_phone_screen(new_page):
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    sign_in(page)
    page.goto("/tasks")
    expect(page.get_by_role("heading", name="Overdue")).to_be_visible()
    widths = page.evaluate("({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
    assert widths["scroll"] <= widths["inner"], f"My work scrolls sideways at phone width: {widths}"
