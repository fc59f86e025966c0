"""htmx's history cache on a shared computer: the lead list (names, emails) is never kept in
the browser's storage, going Back still shows the right page, and signing out leaves no
htmx state behind."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

DUMP_STORAGE = """() => {
  const dump = (store) => { const out = {}; for (let i = 0; i < store.length; i++) { const k = store.key(i); out[k] = store.getItem(k); } return out; };
  return {session: dump(sessionStorage), local: dump(localStorage)};
}"""


def _kept(page) -> dict:
    storage = page.evaluate(DUMP_STORAGE)
    return {f"{area}:{key}": value for area, items in storage.items() for key, value in items.items()}


def test_lead_list_leaves_no_history_in_browser_storage_and_back_still_works(page, live_db):
    emails = [row[0].lower() for row in live_db("SELECT email FROM leads WHERE email IS NOT NULL")]
    assert emails, "the demo workspace should have leads with emails"
    sign_in(page)
    page.goto("/leads")
    expect(page.locator("#lead-count")).to_contain_text("Showing 1–")
    first_email = next(e for e in emails if e in page.locator("#lead-results").inner_text().lower())

    # Two htmx navigations that push a URL: a search, then a page of the unfiltered list.
    page.get_by_label("Search").fill(first_email)
    expect(page).to_have_url(re.compile(r"[?&]q="))
    expect(page.locator("#lead-count")).to_contain_text("of 1 lead")
    page.goto("/leads")
    page.get_by_role("link", name="Next").first.click()
    expect(page).to_have_url(re.compile(r"[?&]page=2"))

    kept = _kept(page)
    assert not [k for k in kept if "history-cache" in k], "htmx kept page snapshots in storage"

    # Back: with no snapshot htmx asks the server again and gets the whole page.
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"page=2"))
    expect(page.locator("#lead-count")).to_contain_text("Showing 1–")
    expect(page.get_by_role("navigation", name="Main")).to_have_count(1)
    expect(page.locator("#lead-results")).to_have_count(1)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    kept = _kept(page)
    assert not [k for k in kept if "history-cache" in k], kept
    leaked = [e for e in emails for value in kept.values() if value and e in unquote(value).lower()]
    assert not leaked, f"lead emails left in browser storage after sign-out: {leaked[:3]}"
    # The sign-in page is all that remains: no path of a signed-in page either.
    assert all("/leads" not in (value or "") for value in kept.values()), kept
