"""The import screens and the CSV export, as each role uses them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from leadflow.extensions import db
from leadflow.imports import services
from leadflow.imports.models import ImportJob
from leadflow.leads.models import Lead

FILE = ("First Name,Last Name,Email,Phone Number,Company Name\n"
        "Ada,Lovelace,ada@example.com,+1 415 555 0101,Engines\n"
        "Bad,Row,not-an-email,,\n")


def upload(client, content: bytes | str, name="leads.csv"):
    data = content.encode("utf-8") if isinstance(content, str) else content
    return client.post("/imports/new", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def job_id_from(response) -> int:
    target = response.headers.get("Location") or response.headers["HX-Redirect"]
    return int(target.split("/imports/")[1].split("/")[0])


def test_the_whole_flow_upload_map_preview_start_result(login_as):
    _, client = login_as("manager")
    response = upload(client, FILE)
    assert response.status_code == 303
    job_id = job_id_from(response)
    page = client.get(f"/imports/{job_id}/mapping").text
    assert "Map the columns of leads.csv" in page and "UTF-8" in page
    assert 'value="email" selected' in page and "ada@example.com" in page  # suggestion and sample values
    response = client.post(f"/imports/{job_id}/mapping", data={
        "map-0": "first_name", "map-1": "last_name", "map-2": "email", "map-3": "phone", "map-4": "organization"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/imports/{job_id}/preview")
    preview = client.get(f"/imports/{job_id}/preview").text
    assert "Ada Lovelace" in preview and "+14155550101" in preview and "not a valid email address" in preview
    assert db.session.scalar(select(func.count(Lead.id))) == 0
    response = client.post(f"/imports/{job_id}/start", data={"duplicate_policy": "skip"})
    assert response.status_code == 303
    result = client.get(f"/imports/{job_id}")
    assert result.status_code == 200
    text = result.text
    assert 'id="count-created">1<' in text and 'id="count-failed">1<' in text
    assert "Download failed rows as CSV" in text and "Undo this import" in text and "hx-trigger" not in text
    assert db.session.scalar(select(func.count(Lead.id))) == 1
    listing = client.get("/imports").text
    assert "leads.csv" in listing and "Finished" in listing


def test_mapping_without_contact_column_is_refused_with_422(login_as):
    _, client = login_as("admin")
    job_id = job_id_from(upload(client, FILE))
    response = client.post(f"/imports/{job_id}/mapping", data={"map-0": "first_name"})
    assert response.status_code == 422
    assert "Map at least one column to Email or Phone" in response.text
    assert db.session.get(ImportJob, job_id).mapping[2] == "email"  # unchanged


def test_upload_without_file_and_empty_file_get_422(login_as):
    _, client = login_as("admin")
    response = client.post("/imports/new", data={}, content_type="multipart/form-data")
    assert response.status_code == 422 and "Choose a CSV file" in response.text
    response = upload(client, b"")
    assert response.status_code == 422 and "The file is empty." in response.text


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("rows", [60, 5000])  # over the file limit only; over the request limit too
def test_file_over_the_limit_gets_413_and_a_clear_message(app, login_as, instance_folder, htmx, rows):
    app.config["IMPORT_MAX_BYTES"] = 1024
    _, client = login_as("admin", htmx=htmx)
    response = upload(client, "Name,Email\n" + "Ada Lovelace,ada@example.com\n" * rows)
    assert response.status_code == 413
    assert "The file is larger than 1 KB. Split it into smaller files and import each." in response.text
    assert "Upload and continue" in response.text  # the upload form again, to pick another file
    assert db.session.scalar(select(func.count(ImportJob.id))) == 0
    assert not list((instance_folder / "imports").glob("*"))


def test_an_upload_over_the_servers_request_limit_gets_413(app, login_as):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    app.config["IMPORT_MAX_BYTES"] = 1024
    _, client = login_as("admin")
    response = upload(client, "Name,Email\n" + "Ada Lovelace,ada@example.com\n" * 5000)
    assert response.status_code == 413 and "The file is larger than 1 KB" in response.text


BINARY_FILES = {
    "zip": (b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4, "it looks like a ZIP archive (is it an Excel .xlsx? Save it as CSV first)."),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x01" * 200, "it looks like a PNG image."),
    "pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\n", "it looks like a PDF document."),
    "elf": (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 300, "it looks like a program (an ELF executable)."),
    "gzip": (b"\x1f\x8b\x08\x00" + bytes(range(256)), "it looks like a gzip-compressed file (unpack it first)."),
    "random": (bytes((i * 7919 + 13) % 256 for i in range(5000)), "it looks like binary data."),
    "no-nul-controls": (b"Name,Email\n" + b"\x01\x02\x03\x04,\x05\x06\x07\x08\n" * 40, "it looks like binary data."),
}


@pytest.mark.parametrize("kind", sorted(BINARY_FILES))
def test_a_binary_file_named_csv_is_refused_at_upload_and_nothing_is_kept(login_as, instance_folder, kind):
    content, message = BINARY_FILES[kind]
    _, client = login_as("admin")
    response = upload(client, content, name="leads.csv")
    assert response.status_code == 422
    assert f"This file is not a CSV text file: {message}" in response.text
    assert db.session.scalar(select(func.count(ImportJob.id))) == 0
    assert not list((instance_folder / "imports").glob("*"))


def test_cli_refuses_a_binary_file_with_exit_code_2(app, importer, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(BINARY_FILES["zip"][0])
    result = app.test_cli_runner().invoke(args=["leadflow", "import-csv", str(path), "--user", importer.email])
    assert result.exit_code == 2
    assert "This file is not a CSV text file: it looks like a ZIP archive" in result.output
    assert db.session.scalar(select(func.count(ImportJob.id))) == 0


def test_settings_form_reads_the_file_again(login_as):
    _, client = login_as("admin")
    job_id = job_id_from(upload(client, "Name;Email\nAda;ada@example.com\n"))
    response = client.post(f"/imports/{job_id}/settings", data={"encoding": "latin-1", "delimiter": ",",
                                                                 "has_header": "y"})
    assert response.status_code == 303
    assert db.session.get(ImportJob, job_id).columns == ["Name;Email"]
    bad = client.post(f"/imports/{job_id}/settings", data={"encoding": "klingon", "delimiter": ","})
    assert bad.status_code == 422


def test_preview_fragment_follows_the_duplicate_policy(login_as, make_lead):
    make_lead(email="ada@example.com")
    db.session.commit()
    _, client = login_as("manager", htmx=True)
    job_id = job_id_from(upload(client, FILE))
    skip = client.get(f"/imports/{job_id}/preview?duplicate_policy=skip")
    assert skip.text.lstrip().startswith('<section id="preview-rows"') and "existing lead" in skip.text
    update = client.get(f"/imports/{job_id}/preview?duplicate_policy=update")
    assert "Updates" in update.text and "existing lead" not in update.text


def test_progress_endpoint_polls_while_running_and_stops_when_done(login_as, importer, new_job):
    _, client = login_as("manager", htmx=True)
    job = new_job(FILE)
    services.start_job(importer, job, "skip")
    db.session.commit()
    running = client.get(f"/imports/{job.id}/progress")
    assert running.status_code == 200
    assert 'hx-trigger="every 1s"' in running.text and "<progress" in running.text
    assert running.text.lstrip().startswith('<section id="import-status"')
    from leadflow.imports.runner import run_job

    run_job(job.id)
    done = client.get(f"/imports/{job.id}/progress")
    assert "hx-trigger" not in done.text and 'id="count-created">1<' in done.text


def test_failed_rows_download(login_as, run_import):
    _, client = login_as("manager")
    job = run_import(FILE)
    response = client.get(f"/imports/{job.id}/failed.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0][-1] == "Import error" and rows[1][:3] == ["Bad", "Row", "not-an-email"]


def test_result_page_sums_up_the_most_common_reasons(login_as, run_import):
    """Thousands of rows sharing a cause: the page names the kind of problem and how many rows,
    failures apart from warnings, whatever each row's cell says."""
    _, client = login_as("manager")
    rows = "".join(f"Person {i},p{i}@example.com,nobody{i}@example.com\n" for i in range(110))
    rows += "".join(f"Other {i},not-an-email-{i},\n" for i in range(3))
    rows += "Good One,good@example.com,\n"
    job = run_import("Name,Email,Contact owner\n" + rows)
    # An unknown owner is an optional cell: those rows are leads, with a warning each.
    assert (job.created_count, job.warned_count, job.failed_count) == (111, 110, 3)
    page = client.get(f"/imports/{job.id}").get_data(as_text=True)
    assert "Most common reasons" in page
    assert "110 rows imported with warnings:</strong> owner is not an active user (left out)" in page
    assert "3 rows failed:</strong> no valid email or phone" in page
    assert "3 rows failed:</strong> email could not be read" in page
    assert "111 imported</strong>, 110 with warnings, 3 failed." in page
    assert "The first 100 of 113" in page

    few = run_import("Name,Email\nAda,ada2@example.com\nBad,nope\n")
    assert "Most common reasons" not in client.get(f"/imports/{few.id}").get_data(as_text=True)  # all shown


def test_undo_asks_first_then_undoes(login_as, run_import):
    _, client = login_as("manager")
    job = run_import(FILE)
    confirm = client.get(f"/imports/{job.id}/undo")
    assert confirm.status_code == 200 and "move to the" in confirm.text and "Yes, undo this import" in confirm.text
    response = client.post(f"/imports/{job.id}/undo", data={})
    assert response.status_code == 303
    assert db.session.scalar(select(func.count(Lead.id)).where(Lead.deleted_at.is_(None))) == 0
    page = client.get(f"/imports/{job.id}").text
    assert "This import was undone" in page and "Undo this import" not in page


def test_discard_a_draft_removes_it(login_as, instance_folder):
    _, client = login_as("manager")
    job_id = job_id_from(upload(client, FILE))
    response = client.post(f"/imports/{job_id}/discard", data={})
    assert response.status_code == 303
    assert db.session.get(ImportJob, job_id) is None
    assert not list((instance_folder / "imports").iterdir())


@pytest.mark.parametrize("role", ["rep", "viewer"])
def test_reps_and_viewers_cannot_reach_imports(login_as, run_import, role):
    job = run_import(FILE)
    _, client = login_as(role)
    for url in ("/imports", "/imports/new", f"/imports/{job.id}", f"/imports/{job.id}/progress",
                f"/imports/{job.id}/failed.csv", f"/imports/{job.id}/undo"):
        assert client.get(url).status_code == 403, url
    assert upload(client, FILE).status_code == 403
    assert client.post(f"/imports/{job.id}/undo", data={}).status_code == 403
    assert db.session.get(ImportJob, job.id).status == "done"


def test_empty_import_list_says_what_to_do(login_as):
    _, client = login_as("admin")
    page = client.get("/imports").text
    assert "No imports yet." in page and "Import a CSV file" in page


def test_unknown_import_is_404(login_as):
    _, client = login_as("admin")
    assert client.get("/imports/999").status_code == 404


# --- export ---------------------------------------------------------------------------

def export(client, query=""):
    response = client.get("/leads/export.csv" + query)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    return list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))


@pytest.mark.parametrize("role", ["admin", "manager", "rep", "viewer"])
def test_every_role_exports_the_list_with_its_filters(login_as, make_lead, role):
    make_lead(first_name="Alan", last_name="Turing", email="alan@example.com", source="referral", tags="logic")
    make_lead(first_name="Kurt", last_name="Gödel", email="kurt@example.com", source="event")
    db.session.commit()
    _, client = login_as(role)
    assert {r["First name"] for r in export(client)} == {"Alan", "Kurt"}
    only = export(client, "?source=referral")
    assert [(r["First name"], r["Tags"]) for r in only] == [("Alan", "logic")]
    assert [r["Last name"] for r in export(client, "?q=g%C3%B6del")] == ["Gödel"]


def test_export_leaves_out_trashed_leads(login_as, make_lead):
    from leadflow.db import utcnow

    make_lead(first_name="Live")
    gone = make_lead(first_name="Gone")
    gone.deleted_at = utcnow()
    db.session.commit()
    _, client = login_as("viewer")
    assert [r["First name"] for r in export(client)] == ["Live"]


def test_export_neutralises_formulas_imported_as_text(login_as, run_import):
    run_import("Name,Email,Job Title,Phone\n=HYPERLINK(\"http://evil\"),f@example.com,@SUM(A1),+1 415 555 0101\n")
    _, client = login_as("viewer")
    row = export(client)[0]
    assert row["First name"] == "'=HYPERLINK(\"http://evil\")"
    assert row["Job title"] == "'@SUM(A1)" and row["Phone"] == "'+14155550101"


def test_export_dates_each_lead_in_the_exporters_zone_with_its_offset(login_as, make_lead):
    user, client = login_as("admin")
    user.timezone = "America/New_York"
    lead = make_lead(first_name="Ada")
    lead.created_at = datetime(2026, 12, 2, 14, 48, tzinfo=UTC)
    db.session.commit()
    assert export(client)[0]["Created at"] == "2026-12-02T09:48:00-05:00"


def test_export_needs_sign_in(client):
    response = client.get("/leads/export.csv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role, can_import", [("manager", True), ("viewer", False)])
def test_leads_page_has_import_and_export_buttons_for_the_right_roles(login_as, make_lead, role, can_import):
    make_lead(first_name="Eve", source="event")
    db.session.commit()
    _, client = login_as(role)
    page = client.get("/leads?source=event").text
    assert ("/imports/new" in page) is can_import
    assert "/leads/export.csv?source=event" in page


# --- command line ---------------------------------------------------------------------

def test_cli_import_prints_counts_and_lists_failed_rows(app, importer, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(FILE, encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["leadflow", "import-csv", str(path), "--user", importer.email])
    assert result.exit_code == 0, result.output
    assert "1 created, 0 updated, 0 skipped, 1 failed" in result.output
    assert "Row 3: Email:" in result.output
    assert db.session.scalar(select(func.count(Lead.id))) == 1


def test_cli_refuses_unknown_user_and_unusable_files(app, importer, make_user, tmp_path):
    runner = app.test_cli_runner()
    path = tmp_path / "people.csv"
    path.write_text(FILE, encoding="utf-8")
    result = runner.invoke(args=["leadflow", "import-csv", str(path), "--user", "nobody@example.com"])
    assert result.exit_code == 2 and "no active user" in result.output
    rep = make_user(role="rep")
    db.session.commit()
    result = runner.invoke(args=["leadflow", "import-csv", str(path), "--user", rep.email])
    assert result.exit_code == 2 and "Only admins and managers" in result.output
    odd = tmp_path / "odd.csv"
    odd.write_text("Colour,Shoe size\nred,42\n", encoding="utf-8")
    result = runner.invoke(args=["leadflow", "import-csv", str(odd), "--user", importer.email])
    assert result.exit_code == 2 and "Map at least one column" in result.output
    assert db.session.scalar(select(func.count(Lead.id))) == 0
