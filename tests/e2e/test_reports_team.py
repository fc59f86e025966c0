"""The demo admin opens speed to lead, team activity and lost reasons & data quality, changes a
filter, downloads each CSV, and archives an untouched lead from the data quality review queue."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

REPORTS = (
    ("/reports/speed-to-lead", "Speed to lead", ["Group", "Name", "Leads", "Answered"]),
    ("/reports/activity", "Team activity", ["Person", "Calls", "E-mails", "Meetings"]),
    ("/reports/data-quality", "Lost reasons & data quality", ["Section", "Reason or problem", "Leads"]),
)


@pytest.mark.parametrize("address, title, header", REPORTS, ids=[a.rsplit("/", 1)[1] for a, _, _ in REPORTS])
def test_open_the_report_change_a_filter_and_download_its_csv(page, tmp_path, address, title, header):
    sign_in(page)
    page.goto("/reports")
    page.get_by_role("link", name=title, exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(address) + "$"))
    expect(page.get_by_role("heading", level=1, name=title)).to_be_visible()
    expect(page.locator(".report-table table, .report-table .empty-state").first).to_be_visible()

    page.get_by_label("Source").select_option("website")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"[?&]source=website"))
    expect(page.get_by_label("Source")).to_have_value("website")
    csv_link = page.locator("#report-csv")
    expect(csv_link).to_have_attribute("href", re.compile(re.escape(address) + r"\.csv\?.*source=website"))

    with page.expect_download() as download_info:
        csv_link.click()
    saved = Path(tmp_path) / "report.csv"
    download_info.value.save_as(saved)
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert rows[0][:len(header)] == header


def test_archive_an_untouched_lead_from_the_review_queue(page, live_db):
    sign_in(page)
    page.goto("/reports/data-quality")
    page.get_by_role("link", name=re.compile(r"^Review \d+")).last.click()  # the untouched row comes last
    expect(page.get_by_role("heading", level=1, name="Untouched for 90+ days")).to_be_visible()
    first = page.locator("[data-bulk-item]").first
    lead_id = int(first.get_attribute("value"))
    first.check()
    expect(page.locator("[data-bulk-count]")).to_have_text("1 selected.")
    page.get_by_label("Action", exact=True).select_option("archive")
    page.get_by_role("button", name="Apply to selected leads").click()
    expect(page.locator(".flash").first).to_contain_text("Archived 1 lead.")
    assert live_db("SELECT deleted_at IS NOT NULL FROM leads WHERE id = ?", (lead_id,)) == [(1,)]
    page.get_by_role("link", name="Back to the review queue").click()
    expect(page.get_by_role("heading", level=1, name="Untouched for 90+ days")).to_be_visible()
    expect(page.locator(f"#queue-lead-{lead_id}")).to_have_count(0)
