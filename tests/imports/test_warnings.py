"""Optional cells never sink a row: a bad one is left out and reported as a warning; phones
are read with ``00`` as ``+`` and in the row's (or the updated lead's) country; problems
are summed up by kind; a file whose every previewed row fails cannot be started."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.imports import runner, services
from leadflow.imports.export import neutralise
from leadflow.imports.models import ImportRow
from leadflow.imports.queries import common_reasons, failed_rows_csv
from leadflow.leads.models import Lead

HUBSPOT_HEADER = ["First Name", "Last Name", "Email", "Phone Number", "Country/Region", "Company Name"]


def hubspot_rows() -> tuple[list[list[str]], dict[str, str | None], dict[int, str]]:
    """190 contacts as HubSpot exports them: (rows, email → the phone stored for it, row number →
    what its warning says). Row numbers count the header as row 1."""
    rows, phones, warned = [], {}, {}

    def add(first, email, phone, country, stored, warning=None):
        rows.append([first, "Example", email, phone, country, "Acme Ltd"])
        phones[email.lower() if "@@" not in email else None] = stored
        if warning:
            warned[len(rows) + 1] = warning

    for i in range(46):  # dialled from abroad, as UK offices write their numbers: 00 + country code
        add(f"Uk{i}", f"uk{i}@example.co.uk", f"0044 20 7946 {8300 + i}", "United Kingdom" if i % 2 else "",
            f"+44207946{8300 + i}")
    for i in range(20):  # UK mobiles written nationally, with the country in its own column
        add(f"Mob{i}", f"mob{i}@example.co.uk", f"07700 900{100 + i}", "United Kingdom", f"+447700900{100 + i}")
    for i in range(114):  # North American numbers in the workspace's region
        add(f"Us{i}", f"us{i}@example.com", f"(415) {300 + i} {1000 + i}", "United States", f"+1415{300 + i}{1000 + i}")
    for i in range(4):  # unreadable phones beside a valid email: imported without the phone
        add(f"Odd{i}", f"odd{i}@example.com", f"12{i}", "", None,
            f"Imported; phone ‘12{i}’ could not be read and was left out.")
    for i in range(2):  # a broken email beside a valid phone: imported without the email
        email = f"broken{i}@@example.com"
        rows.append([f"Broken{i}", "Example", email, f"+1 415 555 01{10 + i}", "", "Acme Ltd"])
        phones[f"+1415555011{i}"] = f"+1415555011{i}"
        warned[len(rows) + 1] = f"Imported; email ‘{email}’ could not be read and was left out."
    for i in range(4):  # an unknown country: the phone is read in the workspace's region, where it is no number
        add(f"Far{i}", f"far{i}@example.com", f"07700 900{200 + i}", "Atlantis", None,
            f"Imported; country ‘Atlantis’ is not a country we know and was left out; "
            f"phone ‘07700 900{200 + i}’ could not be read and was left out.")
    assert len(rows) == 190
    return rows, phones, warned


def hubspot_file(rows: list[list[str]]) -> bytes:
    """UTF-8 with a byte order mark, commas, CRLF line ends: as HubSpot writes its exports."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([HUBSPOT_HEADER, *rows])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def test_a_hubspot_export_imports_every_row_with_its_phones_in_e164(run_import, login_as):
    rows, phones, warned = hubspot_rows()
    job = run_import(hubspot_file(rows), filename="hubspot-contacts.csv")
    assert job.mapping == ["first_name", "last_name", "email", "phone", "country", "organization"]
    assert (job.status, job.created_count, job.failed_count, job.skipped_count, job.warned_count) == (
        "done", 190, 0, 0, len(warned))
    stored = {(lead.email_key or lead.phone): lead.phone for lead in db.session.scalars(select(Lead))}
    assert stored == phones  # every phone exactly, and None where it was left out
    countries = dict(db.session.execute(select(Lead.email_key, Lead.country)).all())
    assert countries["uk1@example.co.uk"] == "GB" and countries["uk0@example.co.uk"] is None
    assert countries["mob0@example.co.uk"] == "GB" and countries["far0@example.com"] is None

    noted = {r.row_number: (r.outcome, r.message, r.kinds, r.lead_id is not None)
             for r in db.session.scalars(select(ImportRow).where(ImportRow.job_id == job.id))}
    assert {n: message for n, (_, message, _, _) in noted.items()} == warned
    assert all(outcome == "warned" and has_lead for outcome, _, _, has_lead in noted.values())
    assert noted[189][2] == "country:unknown phone:invalid"

    # The rows with warnings download like the failed ones: the file's own cells, then what was left out.
    _, client = login_as("manager")
    response = client.get(f"/imports/{job.id}/warned.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="hubspot-contacts-rows-with-warnings.csv"' in response.headers["Content-Disposition"]
    download = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert download[0] == [*HUBSPOT_HEADER, "Import warning"]
    assert [row[:6] for row in download[1:]] == [[neutralise(c) for c in rows[n - 2]] for n in sorted(warned)]
    assert download[5][3] == "'+1 415 555 0110"  # a cell a spreadsheet would run as a formula stays text
    assert [row[6] for row in download[1:]] == [f"Row {n}: {warned[n]}" for n in sorted(warned)]
    assert client.get(f"/imports/{job.id}/failed.csv").text.lstrip("\ufeff").splitlines() == [
        ",".join(HUBSPOT_HEADER) + ",Import error"]

    page = client.get(f"/imports/{job.id}").text
    assert "190 imported</strong>, 10 with warnings." in page and 'id="count-warned">10<' in page
    assert "Download rows with warnings as CSV" in page and "Download failed rows" not in page
    assert "8 rows imported with warnings:</strong> phone could not be read (left out)" in page
    assert "4 rows imported with warnings:</strong> country is not a country we know (left out)" in page
    assert "2 rows imported with warnings:</strong> email could not be read (left out)" in page


def test_reasons_are_grouped_by_kind_not_by_the_text_of_each_cell(run_import):
    rows = "".join(f"P{i} One,p{i}@example.com,0033 {i}\n" for i in range(5))  # five different bad phones
    rows += "".join(f"Q{i} Two,,not a phone {i}\n" for i in range(3))  # no email, bad phone: fail
    rows += "".join(f"R{i} Three,,\n" for i in range(2))  # no contact at all
    rows += ",nameless@example.com,\n"
    job = run_import("Name,Email,Phone\n" + rows)
    assert (job.created_count, job.warned_count, job.failed_count) == (5, 5, 6)
    # Most first; a row with two problems counts under both; warnings apart from failures.
    assert common_reasons(job) == [
        ("failed", "no valid email or phone", 5), ("warned", "phone could not be read", 5),
        ("failed", "phone could not be read", 3), ("failed", "no name", 1)]
    failed = {r.row_number: r.message for r in db.session.scalars(
        select(ImportRow).where(ImportRow.job_id == job.id, ImportRow.outcome == "failed"))}
    # A failed row says which cells were bad, then why it cannot be a lead.
    assert failed[7].startswith("Phone: “not a phone 0” is not a phone number we can read.")
    assert failed[7].endswith("The row has no valid email or phone: a lead needs one of them.")
    assert failed[10] == "The row has no email or phone: a lead needs one of them."
    assert failed[12] == "The row has no name: a lead needs a first or last name."


def test_a_bad_email_with_a_valid_phone_imports_without_it_and_without_a_phone_fails(run_import):
    job = run_import("Name,Email,Phone\nAda One,ada@@x,+44 20 7946 0958\nBob Two,bob@@x,\nCy Three,bad@@x,0044 1\n")
    assert (job.created_count, job.warned_count, job.failed_count) == (1, 1, 2)
    lead = db.session.scalars(select(Lead)).one()
    assert (lead.first_name, lead.email, lead.phone) == ("Ada", None, "+442079460958")


def test_a_name_too_long_fails_the_row_and_a_title_too_long_only_warns(run_import):
    long = "x" * 130
    job = run_import(f"First Name,Last Name,Email,Job Title\n{'y' * 90},,a@example.com,\nAda,Lovelace,b@example.com,{long}\n")
    assert (job.created_count, job.warned_count, job.failed_count) == (1, 1, 1)
    lead = db.session.scalars(select(Lead)).one()
    assert (lead.email, lead.title) == ("b@example.com", None)
    messages = {r.outcome: (r.message, r.kinds) for r in db.session.scalars(select(ImportRow))}
    assert messages["failed"] == ("First name: use at most 80 characters. The row has no name: a lead needs a "
                                  "first or last name.", "name:missing first_name:too_long")
    assert messages["warned"] == (f"Imported; job title ‘{'x' * 39}…’ is too long and was left out.", "title:too_long")


def test_update_mode_keeps_the_leads_values_where_the_file_has_bad_cells(run_import, make_lead, make_user):
    owner = make_user(role="rep", email="rita@example.com", name="Rita Rep")
    lead = make_lead(first_name="Grace", last_name="Hopper", email="grace@example.com", phone="+1 415 555 0101",
                     country="US", value="1000", expected_close_date="2027-01-31", owner_id=str(owner.id),
                     title="Admiral")
    db.session.commit()
    job = run_import("Name,Email,Phone,Country,Deal Value,Expected close date,Owner,Job Title\n"
                     "Grace Hopper,grace@example.com,12,Atlantis,lots,someday,ghost@example.com,Commodore\n",
                     policy="update")
    assert (job.updated_count, job.warned_count, job.failed_count) == (1, 1, 0)
    db.session.refresh(lead)
    assert (lead.phone, lead.country, lead.value_cents, lead.expected_close_date.isoformat(), lead.owner_id,
            lead.title) == ("+14155550101", "US", 100000, "2027-01-31", owner.id, "Commodore")
    warned = db.session.scalars(select(ImportRow).where(ImportRow.outcome == "warned")).one()
    assert warned.lead_id == lead.id and warned.kinds == (
        "country:unknown phone:invalid value:invalid expected_close_date:invalid owner:unknown")


def test_an_update_reads_the_phone_in_the_leads_own_country(run_import, make_lead):
    """The row gives no country: its national number is read where the lead is (GB), not in
    the workspace's region (US)."""
    uk = make_lead(first_name="Alan", last_name="Turing", email="alan@example.co.uk", country="GB")
    us = make_lead(first_name="Grace", last_name="Hopper", email="grace@example.com", phone="+1 415 555 0101")
    db.session.commit()
    job = run_import("Name,Email,Phone,Job Title\nAlan Turing,alan@example.co.uk,07700 900123,Mathematician\n"
                     "Grace Hopper,grace@example.com,07700 900124,Commodore\n", policy="update")
    assert (job.updated_count, job.warned_count) == (2, 1)
    db.session.refresh(uk)
    db.session.refresh(us)
    assert uk.phone == "+447700900123"
    assert us.phone == "+14155550101"  # not a number in the US: left out, the lead keeps its own
    warned = db.session.scalars(select(ImportRow).where(ImportRow.outcome == "warned")).one()
    assert (warned.row_number, warned.lead_id) == (3, us.id)


def test_preview_reads_the_phone_in_the_matched_leads_country_too(new_job, make_lead):
    make_lead(first_name="Alan", email="alan@example.co.uk", country="GB")
    db.session.commit()
    job = new_job("Name,Email,Phone\nAlan Turing,alan@example.co.uk,020 7946 0958\n")
    created, updated = services.preview(job, "create")[0], services.preview(job, "update")[0]
    assert (created.action, created.values.get("phone"), created.warned) == ("skip", None, False)
    assert (updated.action, updated.values["phone"], updated.warned) == ("update", "+442079460958", False)


def test_undo_after_warnings_trashes_the_created_leads_and_restores_the_updated_one(run_import, importer, make_lead):
    kept = make_lead(first_name="Grace", last_name="Hopper", email="grace@example.com", title="Admiral",
                     phone="+1 415 555 0101")
    db.session.commit()
    job = run_import("Name,Email,Phone,Job Title,Lifecycle Stage\n"
                     "Grace Hopper,grace@example.com,0044 1,Commodore,Weird\n"
                     "Alan Turing,alan@example.com,0044 2,,\n"
                     "Ada Lovelace,ada@example.com,+44 20 7946 0958,,Nonsense\n", policy="update")
    assert (job.created_count, job.updated_count, job.warned_count) == (2, 1, 3)
    services.start_undo(importer, job)
    db.session.commit()
    runner.run_job(job.id)
    db.session.expire_all()
    assert job.status == "undone" and job.undo_done == 3
    assert db.session.scalars(select(Lead.id).where(Lead.deleted_at.is_(None))).all() == [kept.id]
    assert (kept.title, kept.phone) == ("Admiral", "+14155550101")


def test_a_file_whose_every_row_fails_offers_no_start_and_the_start_is_refused(login_as, new_job, importer):
    _, client = login_as(importer)
    rows = "".join(f"Person {i},person{i}.example.com,call me {i}\n" for i in range(25))
    job = new_job("Name,Email,Phone\n" + rows)
    page = client.get(f"/imports/{job.id}/preview").text
    assert "Every one of these rows would fail, so the import cannot start." in page
    assert "20 rows failed:</strong> no valid email or phone" in page
    assert "20 rows failed:</strong> email could not be read" in page
    assert "20 rows failed:</strong> phone could not be read" in page
    assert "Import every row" not in page

    response = client.post(f"/imports/{job.id}/start", data={"duplicate_policy": "skip"})
    assert response.status_code == 422
    assert ("Nothing would be imported: all of the first 20 rows of the file would fail (20 rows: no valid email "
            "or phone; 20 rows: email could not be read; 20 rows: phone could not be read).") in response.text
    db.session.expire_all()
    assert job.status == "draft" and db.session.scalar(select(func.count(Lead.id))) == 0
    with pytest.raises(ValidationFailed):
        services.start_job(importer, job, "skip")


def test_a_file_with_one_good_row_in_the_preview_can_start(login_as, new_job, importer):
    _, client = login_as(importer)
    job = new_job("Name,Email\nBad,nope\nGood Person,good@example.com\n")
    page = client.get(f"/imports/{job.id}/preview").text
    assert "Import every row" in page and "cannot start" not in page
    assert client.post(f"/imports/{job.id}/start", data={"duplicate_policy": "skip"}).status_code == 303


def test_the_preview_shows_a_rows_warnings(login_as, new_job, importer):
    _, client = login_as(importer)
    job = new_job("Name,Email,Phone\nAda Lovelace,ada@example.com,0044 20 7946 8353\nBob Bad,bob@example.com,0044 2\n")
    page = client.get(f"/imports/{job.id}/preview").text
    assert "+442079468353" in page
    assert "Imported; phone ‘0044 2’ could not be read and was left out." in page
    assert "(<strong>1</strong> with warnings" in page


def test_failed_rows_download_still_lists_only_failures(run_import):
    job = run_import("Name,Email,Phone\nAda,ada@example.com,12\nBad,nope,\n")
    lines = list(csv.reader(io.StringIO("".join(failed_rows_csv(job.id)))))
    assert [line[0] for line in lines] == ["Bad"]
    warned = list(csv.reader(io.StringIO("".join(failed_rows_csv(job.id, "warned")))))
    assert warned == [["Ada", "ada@example.com", "12", "Row 2: Imported; phone ‘12’ could not be read and was left out."]]


def test_a_north_american_looking_number_is_read_in_the_rows_country(run_import):
    """The quick path for North American numbers is taken only where they are national numbers:
    in a UK row "(415) 555-0132" is no number (left out), in a Canadian or an unplaced row it is +1."""
    job = run_import("Name,Email,Phone,Country\nGb Person,gb@example.com,(415) 555-0132,United Kingdom\n"
                     "Ca Person,ca@example.com,(415) 555-0133,Canada\nNo Where,nw@example.com,415.555.0134,\n"
                     "Gb Intl,gbi@example.com,+1 415 555 0135,GB\n")
    assert (job.created_count, job.warned_count) == (4, 1)
    phones = dict(db.session.execute(select(Lead.email, Lead.phone)).all())
    assert phones == {"gb@example.com": None, "ca@example.com": "+14155550133", "nw@example.com": "+14155550134",
                      "gbi@example.com": "+14155550135"}
