"""The home page in a real browser: what is due today, marked done in place; a phone's width."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e


def _overdue_count(page) -> int:
    text = page.locator("#today-summary").inner_text()
    return int(re.search(r"(\d+)\+? overdue", text).group(1))


def test_mark_a_task_done_from_the_home_page_in_place(page):
    sign_in(page)
    page.goto("/")
    page.evaluate("window.__e2eSameDocument = true")
    before = _overdue_count(page)
    assert before > 0, "the demo admin has overdue tasks"
    row = page.locator("#home-overdue + .task-list > li.task").first
    row_id = row.get_attribute("id")
    title = row.locator(".task-title").inner_text()
    row.get_by_role("button", name=re.compile(r"^Mark .* done$")).click()
    done = page.locator(f"#{row_id}")
    expect(done).to_contain_text("(done)")
    expect(done).to_contain_text("Done. It is on the lead's timeline.")
    expect(done.get_by_role("button", name=f"Reopen {title}")).to_be_visible()
    # The summary line hears the change and counts again.
    expect(page.locator("#today-summary")).to_contain_text(f"{before - 1} overdue")
    # This month's figures arrived after the page, with charts that have a text alternative.
    expect(page.locator("#won-value")).to_be_visible()
    expect(page.locator("svg.sparkline title").first).to_contain_text("last 6 months")
    assert page.evaluate("window.__e2eSameDocument === true"), "marking the task done reloaded the page"


def test_home_page_fits_a_phone(page):
    page.set_viewport_size({"width": 375, "height": 800})
    sign_in(page)
    page.goto("/")
    expect(page.locator("#weighted-pipeline")).to_be_visible()
    widths = page.evaluate("({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
    assert widths["scroll"] <= widths["inner"], widths
    expect(page.get_by_role("button", name=re.compile(r"^Mark .* done$")).first).to_be_visible()
