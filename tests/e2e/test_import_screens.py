"""The demo admin imports a small CSV file through the three import screens, watches it run,
downloads the row that failed, and undoes the import."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

FILENAME = "e2e-fair-contacts.csv"
JOSE = "jose.nunez.e2e-import@example.com"
ADA = "ada.byron.e2e-import@example.com"


def _csv_file(duplicate_email: str) -> bytes:
    """Semicolons and Latin-1, as a European spreadsheet saves them: two new people, one
    already in the CRM, one row whose email cannot be used."""
    lines = [
        "First Name;Last Name;Email;Phone;Company",
        f"José;Núñez;{JOSE};+1 415 555 0101;Acme Ibérica",
        f"Dupli;Cate;{duplicate_email};;",
        "Bad;Row;not-an-email;;",
        f"Ada;Byron;{ADA};;Engines",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def _column_select(page, column: str):
    return page.get_by_label(f"Lead field for the column “{column}”")


def _preview_row(page, name: str):
    return page.locator("#preview-rows tbody tr").filter(has_text=name)


def test_admin_imports_a_latin1_semicolon_file_then_undoes_it(page, live_db, tmp_path):
    demo_lead_id, demo_email, demo_first_name = live_db(
        "SELECT id, email, first_name FROM leads WHERE deleted_at IS NULL AND email IS NOT NULL ORDER BY id LIMIT 1")[0]
    sign_in(page)

    # Step 1: upload.
    page.goto("/imports/new")
    page.get_by_label("CSV file").set_input_files(
        {"name": FILENAME, "mimeType": "text/csv", "buffer": _csv_file(demo_email)})
    page.get_by_role("button", name="Upload and continue").click()

    # Step 2: what was detected, and the columns mapped from their names.
    expect(page.get_by_role("heading", name=f"Map the columns of {FILENAME}")).to_be_visible()
    settings = page.locator("details summary")
    expect(settings).to_contain_text("Windows-1252")  # Latin-1 text without bytes only Latin-1 has
    expect(settings).to_contain_text("Semicolon")
    expect(page.get_by_role("row", name=re.compile("First Name"))).to_contain_text("José")
    for column, field in (("First Name", "first_name"), ("Last Name", "last_name"), ("Email", "email"),
                          ("Phone", "phone"), ("Company", "organization")):
        expect(_column_select(page, column)).to_have_value(field)
    page.get_by_role("button", name="Preview the import").click()

    # Step 3: the preview, with each row's outcome; the duplicate follows the chosen policy.
    expect(page.get_by_role("heading", name=f"Preview the import of {FILENAME}")).to_be_visible()
    expect(_preview_row(page, "José Núñez")).to_contain_text("New lead")
    expect(_preview_row(page, "José Núñez")).to_contain_text("Acme Ibérica")
    bad = _preview_row(page, "Bad Row")
    expect(bad).to_contain_text("Fails")
    expect(bad.locator(".field-error")).to_contain_text("not a valid email address")
    page.get_by_label("Update the existing lead with the file's non-empty values").check()
    expect(_preview_row(page, "Dupli Cate")).to_contain_text("Updates")  # the htmx preview follows
    # An email belongs to one lead: even "create anyway" skips the row, saying which lead has it.
    page.get_by_label(re.compile("Create a new lead anyway")).check()
    expect(_preview_row(page, "Dupli Cate")).to_contain_text(f"Lead #{demo_lead_id} already has this email")
    page.get_by_label("Skip rows that match an existing lead").check()
    expect(_preview_row(page, "Dupli Cate")).to_contain_text("Skipped")
    expect(page.locator("#preview-rows")).to_contain_text("2 new lead, 0 updates, 1 skipped, 1 fails")
    page.get_by_role("button", name="Import every row").click()

    # The result: the status block polls until the import has finished.
    expect(page.get_by_role("heading", name=f"Import of {FILENAME}")).to_be_visible()
    expect(page.locator("#count-created")).to_have_text("2")
    expect(page.locator("#count-updated")).to_have_text("0")
    expect(page.locator("#count-skipped")).to_have_text("1")
    expect(page.locator("#count-failed")).to_have_text("1")
    expect(page.locator("#import-status")).not_to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("row", name=re.compile(r"^4 Failed"))).to_contain_text("not a valid email address")
    job_id = int(re.search(r"/imports/(\d+)", page.url).group(1))
    created = live_db("SELECT email FROM leads WHERE import_job_id = ? AND deleted_at IS NULL ORDER BY email",
                      (job_id,))
    assert [row[0] for row in created] == [ADA, JOSE]
    assert live_db("SELECT first_name, last_name FROM leads WHERE email = ?", (JOSE,)) == [("José", "Núñez")]
    assert live_db("SELECT first_name FROM leads WHERE id = ?", (demo_lead_id,)) == [(demo_first_name,)], \
        "the skipped duplicate leaves the existing lead alone"

    # The failed rows, as a CSV file with the reason.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download failed rows as CSV").click()
    saved = Path(tmp_path) / "failed.csv"
    download_info.value.save_as(saved)
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["First Name", "Last Name", "Email", "Phone", "Company", "Import error"]
    assert len(rows) == 2 and rows[1][:3] == ["Bad", "Row", "not-an-email"]
    assert rows[1][5].startswith("Row 4: ") and "not a valid email address" in rows[1][5]

    # Undo: asked first, then the new leads go to the trash.
    page.get_by_role("button", name="Undo this import").click()
    expect(page.get_by_role("heading", name=f"Undo the import of {FILENAME}?")).to_be_visible()
    page.get_by_role("button", name="Yes, undo this import").click()
    expect(page.locator("#import-status")).to_contain_text("This import was undone")
    trashed = live_db("SELECT email, deleted_at IS NOT NULL FROM leads WHERE import_job_id = ? ORDER BY email",
                      (job_id,))
    assert trashed == [(ADA, 1), (JOSE, 1)]
    page.locator("#import-status").get_by_role("link", name="trash", exact=True).click()
    expect(page.get_by_role("heading", name="Trash")).to_be_visible()
    expect(page.get_by_role("cell", name="José Núñez")).to_be_visible()
    expect(page.get_by_role("cell", name="Ada Byron")).to_be_visible()
