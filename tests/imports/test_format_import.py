"""Files that write numbers and dates their own way, imported end to end: the decimal
separator and date formats detected, asked when they cannot be told, confirmed on the
mapping page, and the stored leads checked value by value."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from leadflow.dashboard.scope import scope_for
from leadflow.dashboard.today import new_leads
from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.imports import services
from leadflow.imports.models import ImportJob, ImportRow
from leadflow.leads.models import Lead

# A Pipedrive leads export as a German workspace saves it: Windows-1252, semicolons, CRLF,
# decimal commas, European dates, a created column.
PIPEDRIVE = (
    "Lead - Title;Person - Name;Person - Email;Organization - Name;Lead - Value;Lead - Value currency;"
    "Lead - Expected close date;Lead created\r\n"
    "Bäckerei;Jürgen Müller;juergen@example.de;Bäckerei Köln GmbH;2500,00;EUR;18.11.2027;02.03.2024 09:15\r\n"
    "Café;Zoë Février;zoe@example.fr;Café Crème SARL;1.234,56;EUR;01.02.2028;15.07.2024 18:00\r\n"
    "Größe;Åsa Ørsted;asa@example.dk;;2.500;CHF;;03.01.2025\r\n"
    "Schätzung;Renée Noël;renee@example.fr;;1,234;EUR;2027-18-11;01.01.2999\r\n"
).encode("cp1252")


def leads_by_email() -> dict[str, Lead]:
    return {lead.email: lead for lead in db.session.scalars(select(Lead).where(Lead.deleted_at.is_(None)))}


def messages(job, outcome: str = "failed") -> dict[int, str]:
    return {r.row_number: r.message for r in db.session.scalars(
        select(ImportRow).where(ImportRow.job_id == job.id, ImportRow.outcome == outcome))}


def test_a_pipedrive_export_is_stored_exactly(run_import, importer):
    importer.timezone = "Europe/Berlin"
    db.session.commit()
    job = run_import(PIPEDRIVE, filename="pipedrive-leads.csv")
    assert (job.encoding, job.delimiter, job.decimal_separator) == ("cp1252", ";", ",")
    assert job.mapping == ["custom", "full_name", "email", "organization", "value", "currency",
                           "expected_close_date", "created_at"]
    assert job.date_formats == {"6": "dd.mm.yyyy", "7": "dd.mm.yyyy"}
    leads = leads_by_email()
    juergen, zoe, asa = leads["juergen@example.de"], leads["zoe@example.fr"], leads["asa@example.dk"]
    assert (juergen.first_name, juergen.last_name, juergen.organization.name) == ("Jürgen", "Müller",
                                                                                  "Bäckerei Köln GmbH")
    assert (juergen.value_cents, juergen.currency, juergen.expected_close_date) == (250000, "EUR", date(2027, 11, 18))
    assert juergen.created_at == datetime(2024, 3, 2, 8, 15, tzinfo=UTC)  # 09:15 in Berlin (CET)
    assert (zoe.value_cents, zoe.currency, zoe.expected_close_date) == (123456, "EUR", date(2028, 2, 1))
    assert zoe.created_at == datetime(2024, 7, 15, 16, 0, tzinfo=UTC)  # 18:00 in Berlin (CEST)
    assert (asa.value_cents, asa.currency, asa.expected_close_date) == (250000, "CHF", None)
    assert asa.created_at == datetime(2025, 1, 2, 23, 0, tzinfo=UTC)  # midnight in Berlin
    # The last row's amount, date and created date cannot be read with certainty: the lead is
    # kept without them, and its warning says why each was left out.
    renee = leads["renee@example.fr"]
    assert (renee.value_cents, renee.expected_close_date) == (None, None)
    assert renee.created_at > datetime(2026, 1, 1, tzinfo=UTC)  # when it was imported, not 2999
    warned = messages(job, "warned")[5]
    assert "“1,234” is not an amount we can read" in warned and "decimal comma" in warned
    assert "“2027-18-11” is not a date we can read: it does not match dd.mm.yyyy" in warned
    assert "“01.01.2999” is in the future" in warned


def test_an_update_never_moves_the_created_date(run_import, make_lead):
    lead = make_lead(email="ada@example.com", first_name="Ada", last_name="Lovelace")
    db.session.commit()
    created = lead.created_at
    run_import("Name,Email,Job title,Created date\nAda Lovelace,ada@example.com,Countess,2019-05-01\n",
               policy="update")
    db.session.expire_all()
    kept = db.session.get(Lead, lead.id)
    assert kept.title == "Countess" and kept.created_at == created


def test_imported_leads_count_as_new_by_their_original_date(run_import, importer):
    old = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%d")
    run_import(f"Name,Email,Created date\nOld Lead,old@example.com,{old}\nNew Lead,new@example.com,\n")
    # The home page's "new leads" (everyone's, as a manager may see them) holds only the new one.
    new = new_leads(scope_for(importer, "all"), datetime.now(UTC))
    assert [lead.email for lead in new.rows] == ["new@example.com"] and new.count == 1


def test_ambiguous_amounts_are_asked_and_nothing_starts_until_answered(new_job, importer):
    job = new_job("Name,Email,Deal Value\nAda Lovelace,ada@example.com,1.234\nGrace Hopper,grace@example.com,2.500\n")
    assert job.decimal_separator is None and job.detected_decimal_separator is None
    assert "read both ways" in services.open_questions(job)[0]
    with pytest.raises(ValidationFailed) as refused:
        services.start_job(importer, job, "skip")
    assert "choose whether the file writes decimals with a point or a comma" in str(refused.value.errors)
    services.update_file_settings(importer, job, encoding="utf-8", delimiter=",", has_header=True,
                                  decimal_separator=",")
    assert services.open_questions(job) == []
    assert [p.values["value_cents"] for p in services.preview(job)] == [123400, 250000]


def test_mapping_a_new_date_column_detects_its_format_and_keeps_a_chosen_one(new_job, importer):
    job = new_job("Name,Email,When,Closing\nAda Lovelace,ada@example.com,05/06/2024,18.11.2027\n")
    assert job.date_formats == {}
    services.update_mapping(importer, job, ["full_name", "email", "created_at", "expected_close_date"])
    assert job.date_formats == {"2": None, "3": "dd.mm.yyyy"}  # 05/06 reads both ways: asked
    assert "read both as dd/mm/yyyy and mm/dd/yyyy" in services.open_questions(job)[0]
    services.update_mapping(importer, job, ["full_name", "email", "created_at", "expected_close_date"],
                            {2: "mm/dd/yyyy"})
    assert job.date_formats == {"2": "mm/dd/yyyy", "3": "dd.mm.yyyy"} and services.open_questions(job) == []
    plan = services.preview(job)[0]
    assert plan.values["created_at"] == datetime(2024, 5, 6, tzinfo=UTC)
    assert plan.values["expected_close_date"] == date(2027, 11, 18)


# --- the screens ---------------------------------------------------------------------------

def upload(client, content: bytes):
    response = client.post("/imports/new", data={"file": (io.BytesIO(content), "leads.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 303
    return int(response.headers["Location"].split("/imports/")[1].split("/")[0])


def test_settings_show_the_detected_separator_and_the_preview_shows_each_amount_read(login_as):
    _, client = login_as("manager")
    job_id = upload(client, "Name;Email;Deal Value;Currency\nAda Lovelace;ada@example.com;2500,00;EUR\n"
                            .encode("utf-8"))
    page = client.get(f"/imports/{job_id}/mapping").text
    assert re.search(r'<option selected value=",">Comma \(1\.234,56\)</option>', page)
    assert "Detected from the amounts: Comma (1.234,56)" in page and "decimal comma" in page
    preview = client.get(f"/imports/{job_id}/preview").text
    assert "Value: 2500,00 → €2,500.00" in preview


def test_an_ambiguous_file_is_asked_on_the_settings_step(login_as):
    _, client = login_as("manager")
    job_id = upload(client, b"Name,Email,Deal Value,Close date\nAda Lovelace,ada@example.com,1.234,05/06/2027\n")
    page = client.get(f"/imports/{job_id}/mapping").text
    assert 'id="format-questions"' in page and "read both ways" in page
    assert re.search(r'<option selected value="">Choose…</option>', page)  # no separator preselected
    assert '<select id="date-3" name="date-3" aria-invalid="true">' in page
    # No preview (nor start) until the questions are answered.
    preview = client.get(f"/imports/{job_id}/preview")
    assert preview.status_code == 303 and preview.headers["Location"].endswith(f"/imports/{job_id}/mapping")
    assert client.post(f"/imports/{job_id}/start", data={"duplicate_policy": "skip"}).status_code == 422
    bad = client.post(f"/imports/{job_id}/settings", data={"encoding": "utf-8", "delimiter": ",",
                                                           "has_header": "y", "decimal_separator": "x"})
    assert bad.status_code == 422 and "a point (1,234.56) or a comma (1.234,56)" in bad.text
    assert db.session.get(ImportJob, job_id).decimal_separator is None
    ok = client.post(f"/imports/{job_id}/settings", data={"encoding": "utf-8", "delimiter": ",",
                                                          "has_header": "y", "decimal_separator": "."})
    assert ok.status_code == 303
    mapping = {"map-0": "full_name", "map-1": "email", "map-2": "value", "map-3": "expected_close_date"}
    bad = client.post(f"/imports/{job_id}/mapping", data={**mapping, "date-3": "yyyy.dd.mm"})
    assert bad.status_code == 422 and "Choose a date format from the list for the column “Close date”" in bad.text
    undecided = client.post(f"/imports/{job_id}/mapping", data={**mapping, "date-3": ""})
    assert undecided.status_code == 303 and undecided.headers["Location"].endswith("/mapping")
    done = client.post(f"/imports/{job_id}/mapping", data={**mapping, "date-3": "dd/mm/yyyy"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/preview")
    preview = client.get(f"/imports/{job_id}/preview").text
    assert "Closes: 05/06/2027 → 2027-06-05" in preview
    assert "Value: 1.234 → not read" in preview and "1.234” is not an amount we can read" in preview


def test_format_forms_keep_csrf(login_as, client):
    _, csrf_client = login_as("manager")
    job_id = upload(csrf_client, b"Name,Email,Deal Value\nAda Lovelace,ada@example.com,1.234\n")
    response = client.post(f"/imports/{job_id}/settings", data={"encoding": "utf-8", "delimiter": ",",
                                                               "decimal_separator": ","})
    assert response.status_code in (400, 422)
    assert db.session.get(ImportJob, job_id).decimal_separator is None


def test_the_command_line_asks_for_what_it_cannot_tell_and_takes_it_as_options(app, importer, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("Name,Email,Deal Value,Close date\nAda Lovelace,ada@example.com,1.234,05/06/2027\n")
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["leadflow", "import-csv", str(path), "--user", importer.email])
    assert refused.exit_code == 2
    assert "decimals with a point or a comma" in refused.output and "dd/mm/yyyy and mm/dd/yyyy" in refused.output
    done = runner.invoke(args=["leadflow", "import-csv", str(path), "--user", importer.email, "--decimal", "comma",
                               "--date-format", "dd/mm/yyyy"])
    assert done.exit_code == 0, done.output
    lead = leads_by_email()["ada@example.com"]
    assert (lead.value_cents, lead.expected_close_date) == (123400, date(2027, 6, 5))
