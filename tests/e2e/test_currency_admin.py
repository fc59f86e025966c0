"""On a phone, an admin sets an exchange rate in Settings → Currency and rates, and the board's
totals say in which currency they are and what they converted."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e


def test_an_admin_sets_a_rate_on_a_phone_and_the_board_converts_with_it(new_page):
    page = new_page(viewport={"width": 375, "height": 812})
    sign_in(page)
    page.goto("/settings/currency")
    expect(page.get_by_role("heading", name="Currency and exchange rates")).to_be_visible()
    expect(page.locator("#rate-EUR")).to_contain_text("by ")  # the demo's rates say who set them
    field = page.get_by_label("1 CHF =")
    field.fill("1,1")
    page.get_by_role("button", name="Save rates").click()
    expect(page.locator("#rate-CHF")).to_contain_text("Use a point for decimals")
    page.get_by_label("1 CHF =").fill("1.13")
    page.get_by_role("button", name="Save rates").click()
    expect(page.locator(".flash").first).to_contain_text("Rates saved for CHF")
    expect(page.locator("#rate-CHF")).to_contain_text("Set ")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    page.goto("/pipeline")
    first_total = page.locator(".column-total").first
    expect(first_total).to_contain_text(re.compile(r"\$[\d,.]+ USD"))
    expect(page.locator(".money-note").first).to_contain_text(re.compile(r"Includes \d+ leads? in .* converted at"))
