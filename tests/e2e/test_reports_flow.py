"""In a browser, on the demo workspace: each of the time-in-stage, forecast and velocity
reports opens from /reports, keeps a changed filter in its address and its CSV link, and
downloads its CSV; an admin sets a monthly target the forecast then shows."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

REPORTS = [
    ("Time in stage", "time-in-stage", "Section,Stage,Stays ended in the period,Median days"),
    ("Forecast", "forecast", "Figure,Month,Deals,Overdue deals"),
    ("Pipeline velocity", "velocity", "Month,Open deals at its end,Won,Lost"),
]


@pytest.mark.parametrize("title, slug, header", REPORTS, ids=[slug for _, slug, _ in REPORTS])
def test_open_the_report_change_a_filter_and_download_its_csv(new_page, title, slug, header):
    page = new_page(viewport={"width": 375, "height": 812}, accept_downloads=True)
    sign_in(page)
    page.goto("/reports")
    page.get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    expect(page.locator(".report-chart svg[role=img]").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    start = f"{date.today().year - 1}-01-01"
    page.get_by_label("From").fill(start)
    page.get_by_label("Owner").select_option("me")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(rf"/reports/{slug}\?.*start={start}.*owner=me"))
    expect(page.get_by_label("Owner")).to_have_value("me")
    csv_link = page.get_by_role("button", name="Download CSV")
    expect(csv_link).to_have_attribute("href", re.compile(rf"/reports/{slug}\.csv\?.*start={start}.*owner=me"))

    with page.expect_download() as download:
        csv_link.click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith(header)
    assert download.value.suggested_filename.startswith(f"{slug}-{start}-to-")


def test_an_admin_sets_a_monthly_target_and_the_forecast_shows_it(page):
    sign_in(page)
    page.goto("/settings/targets")
    month = date.today().strftime("%Y-%m")
    page.get_by_label("Month").fill(month)
    page.get_by_label("Target won value").fill("abc")
    page.get_by_role("button", name="Save target").click()
    expect(page.locator(".field-error")).to_contain_text("Enter an amount such as")
    page.get_by_label("Target won value").fill("250000")
    page.get_by_role("button", name="Save target").click()
    expect(page.locator(".flash").first).to_contain_text("saved")
    expect(page.locator("table")).to_contain_text("$250,000")

    page.goto("/reports/forecast")
    row = page.locator("#won-by-month tbody tr").last
    expect(row).to_contain_text("$250,000")
    expect(row).to_contain_text("%")
