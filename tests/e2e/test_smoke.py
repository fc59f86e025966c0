"""Smoke test in a real browser: sign in, search the lead list, open a lead, edit a field inline."""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_LEADS, sign_in

pytestmark = pytest.mark.e2e


def _mark_document(page) -> None:
    """Tag the current document; a full page load would lose the tag."""
    page.evaluate("window.__e2eSameDocument = true")


def _same_document(page) -> bool:
    return page.evaluate("window.__e2eSameDocument === true")


def _lead_count(page) -> int:
    text = page.locator("#lead-count").inner_text()
    match = re.search(r"of ([\d,]+) lead", text)
    assert match, f"unexpected lead count text: {text!r}"
    return int(match.group(1).replace(",", ""))


def test_sign_in_search_open_lead_and_edit_inline(page, live_db):
    sign_in(page)
    # Other browser tests may have added leads to the demo workspace before this one.
    total = live_db("SELECT COUNT(*) FROM leads WHERE deleted_at IS NULL")[0][0]
    assert total >= DEMO_LEADS

    # The lead list, reached from the main navigation.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Leads").click()
    expect(page.get_by_role("heading", name="Leads", level=1)).to_be_visible()
    results = page.locator("#lead-results")
    expect(results.locator("tbody tr").first).to_be_visible()
    assert _lead_count(page) == total

    # Search for the last name of the first lead shown: the table updates in place.
    first_name_link = results.locator("tbody tr td.lead-name a").first
    full_name = first_name_link.inner_text().strip()
    term = full_name.split()[-1]
    _mark_document(page)
    page.get_by_label("Search name, email, organization or phone").fill(term)
    expect(page).to_have_url(re.compile(r"[?&]q="))
    assert parse_qs(urlparse(page.url).query)["q"] == [term]
    expect(results.get_by_role("link", name=full_name).first).to_be_visible()
    expect(page.locator("#lead-count")).not_to_contain_text(f"of {total} leads")
    assert _same_document(page), "searching reloaded the whole page instead of swapping #lead-results"
    assert 1 <= _lead_count(page) < total
    rows = results.locator("tbody tr")
    for i in range(rows.count()):
        assert term.lower() in rows.nth(i).inner_text().lower(), f"row {i} does not match {term!r}"

    # Open the lead.
    results.get_by_role("link", name=full_name).first.click()
    expect(page).to_have_url(re.compile(r"/leads/\d+$"))
    expect(page.get_by_role("heading", name=full_name, level=1)).to_be_visible()
    lead_url = page.url

    # Edit the job title in place.
    new_title = f"Head of Testing {uuid.uuid4().hex[:6]}"
    field = page.locator("#field-title")
    _mark_document(page)
    field.get_by_role("link", name="Edit job title").click()
    editor = page.locator("#field-title form[data-inline-editor]")
    expect(editor).to_be_visible()
    title_input = editor.get_by_label("Job title")
    expect(title_input).to_be_focused()  # the editor takes the cursor: type at once, Escape cancels
    title_input.fill(new_title)
    editor.get_by_role("button", name="Save").click()

    field = page.locator("#field-title")
    expect(field.locator("form")).to_have_count(0)
    expect(field.locator(".field-value")).to_have_text(new_title)
    expect(field).to_contain_text("Saved.")
    history = page.locator("#lead-history")
    expect(history).to_contain_text(new_title)
    # The edit is in the history with its new value (the rescore an edit runs may log a
    # temperature change beside it, at the same moment: the demo's scores include time).
    expect(history.locator("li", has_text="Title").first.locator("ins")).to_have_text(new_title)
    assert _same_document(page), "the inline edit reloaded the whole page"

    # The change was saved, not just shown.
    page.goto(lead_url)
    expect(page.locator("#field-title .field-value")).to_have_text(new_title)
    expect(page.locator("#lead-history li", has_text="Title").first.locator("ins")).to_have_text(new_title)


def test_lead_list_fits_a_phone_screen(new_page):
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    sign_in(page)
    page.goto("/leads")
    expect(page.locator("#lead-results tbody tr").first).to_be_visible()
    widths = page.evaluate(
        "({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
    assert widths["scroll"] <= widths["inner"], (
        f"the lead list scrolls sideways at phone width: page is {widths['scroll']} px wide "
        f"in a {widths['inner']} px window")
    # Every lead is still reachable by its name link.
    expect(page.locator("#lead-results tbody tr td.lead-name a").first).to_be_visible()
