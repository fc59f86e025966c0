"""A person opens the reports index, then the funnel and the sources report on a phone,
changes a filter (which stays in the address and in the CSV link) and downloads the CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e


def _download_rows(page, tmp_path: Path, name: str) -> list[list[str]]:
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    saved = tmp_path / name
    download_info.value.save_as(saved)
    raw = saved.read_bytes()
    assert raw.startswith("\ufeff".encode()), "a spreadsheet needs the byte-order mark to read UTF-8"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_reports_index_funnel_and_sources_with_a_filter_and_their_csv(new_page, tmp_path):
    page = new_page(viewport={"width": 375, "height": 812}, accept_downloads=True)
    sign_in(page)
    page.get_by_role("link", name="Reports").first.click()
    expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Funnel")).to_be_visible()
    expect(page.get_by_role("link", name="Sources")).to_be_visible()
    expect(page.get_by_role("img", name="Leads reaching each step, last 90 days")).to_be_visible()
    expect(page.get_by_role("link", name="Scoring calibration")).to_be_visible()

    # The funnel: both charts, then only my leads.
    page.get_by_role("link", name="Funnel").click()
    expect(page.get_by_role("heading", name="Funnel", exact=True)).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Leads reaching each stage of"))).to_be_visible()
    expect(page.get_by_role("table", name=re.compile("Lifecycle steps reached"))).to_be_visible()
    page.get_by_label("Owner").select_option("me")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/reports/funnel\?.*owner=me"))
    expect(page.get_by_label("Owner")).to_have_value("me")
    expect(page.get_by_role("button", name="Download CSV")).to_have_attribute("href", re.compile(r"owner=me"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    rows = _download_rows(page, tmp_path, "funnel.csv")
    assert rows[0][:3] == ["Funnel", "Step", "Leads reaching it"]
    assert [row[1] for row in rows if row[0] == "Lifecycle"] == ["Lead", "MQL", "SQL", "Opportunity", "Customer"]

    # Sources: a shorter period.
    page.goto("/reports")
    page.get_by_role("link", name="Sources").click()
    expect(page.get_by_role("heading", name="Sources", exact=True)).to_be_visible()
    start = (date.today() - timedelta(days=30)).isoformat()
    page.get_by_label("From").fill(start)
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(rf"/reports/sources\?start={start}"))
    expect(page.get_by_label("From")).to_have_value(start)
    expect(page.get_by_role("img", name="Leads created by source")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    rows = _download_rows(page, tmp_path, "sources.csv")
    assert rows[0][:4] == ["Source", "Leads", "Won", "Conversion to won %"]
    assert len(rows) > 1
