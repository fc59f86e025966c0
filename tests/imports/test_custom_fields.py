"""Custom fields an import keeps (columns mapped "custom", named after the column): on the lead
page, in the list search, and in the export, one column per name."""

from __future__ import annotations

import csv
import io

from leadflow.extensions import db
from leadflow.leads.models import Lead

FILE = ("First Name,Last Name,Email,Annual Revenue,Industry,Lead Status\n"
        "Ada,Lovelace,ada@example.com,\"1,200,000\",Acme Widgets 3000,NEW\n"
        "Alan,Turing,alan@example.com,=HYPERLINK(\"http://evil\"),\"Line one\nLine two\",\n"
        "Kurt,Gödel,kurt@example.com,,,\n")


def lead_by_email(email: str) -> Lead:
    db.session.expire_all()
    return db.session.scalar(db.select(Lead).where(Lead.email_key == email))


def export(client, query=""):
    response = client.get("/leads/export.csv" + query)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data.startswith(b"\xef\xbb\xbf")
    reader = csv.reader(io.StringIO(response.data.decode("utf-8-sig")))
    header, *rows = list(reader)
    return header, [dict(zip(header, row)) for row in rows]


def test_imported_custom_fields_show_on_the_lead_page_under_their_column_names(login_as, run_import):
    run_import(FILE)
    ada = lead_by_email("ada@example.com")
    assert ada.custom_fields == {"Annual Revenue": "1,200,000", "Industry": "Acme Widgets 3000", "Lead Status": "NEW"}
    _, client = login_as("manager")
    page = client.get(f"/leads/{ada.id}").text
    more = page[page.index('<article id="custom-fields"'):]
    more = more[:more.index("</article>")]
    for label, value in (("Annual Revenue", "1,200,000"), ("Industry", "Acme Widgets 3000"), ("Lead Status", "NEW")):
        assert f">{label}</dt>" in more and f'<span class="multiline">{value}</span>' in more


def test_imported_leads_are_found_by_a_custom_field_value(login_as, run_import):
    run_import(FILE)
    ada = lead_by_email("ada@example.com")
    assert "acme widgets 3000" in ada.search_text
    _, client = login_as("viewer")
    page = client.get("/leads?q=acme+widgets+3000").text
    assert f"/leads/{ada.id}" in page and "Turing" not in page


def test_an_import_that_updates_a_lead_makes_its_new_custom_values_searchable(run_import, make_lead):
    lead = make_lead(first_name="Ada", last_name="Lovelace", email="ada@example.com")
    db.session.commit()
    run_import("Email,First Name,Industry\nada@example.com,Ada,Analytical engines\n", policy="update")
    updated = lead_by_email("ada@example.com")
    assert updated.id == lead.id and updated.custom_fields == {"Industry": "Analytical engines"}
    assert "analytical engines" in updated.search_text


def test_export_has_a_column_per_custom_field_after_the_usual_columns(login_as, run_import):
    from leadflow.imports.export import COLUMNS

    run_import(FILE)
    _, client = login_as("viewer")
    header, rows = export(client, "?sort=name&dir=asc")
    assert tuple(header[:len(COLUMNS)]) == COLUMNS
    assert header[len(COLUMNS):] == ["Custom: Annual Revenue", "Custom: Industry", "Custom: Lead Status"]
    by_name = {r["First name"]: r for r in rows}
    assert [by_name["Ada"][h] for h in header[len(COLUMNS):]] == ["1,200,000", "Acme Widgets 3000", "NEW"]
    assert by_name["Alan"]["Custom: Annual Revenue"] == "'=HYPERLINK(\"http://evil\")"
    assert by_name["Alan"]["Custom: Industry"] == "Line one\nLine two"
    assert [by_name["Kurt"][h] for h in header[len(COLUMNS):]] == ["", "", ""]


def test_export_columns_follow_the_filters_and_values_keep_their_type(login_as, make_lead):
    plain = make_lead(first_name="Plain", source="event")
    rich = make_lead(first_name="Rich", source="referral")
    rich.custom_fields = {"seats": 12, "vip": True, "note": "-not a formula", "@who": "me"}
    plain.custom_fields = {"only_here": "x"}
    db.session.commit()
    _, client = login_as("manager")
    header, rows = export(client, "?source=referral")
    assert header[-4:] == ["Custom: @who", "Custom: note", "Custom: seats", "Custom: vip"]
    assert "Custom: only_here" not in header
    assert [rows[0][h] for h in header[-4:]] == ["me", "'-not a formula", "12", "Yes"]


def test_export_without_custom_fields_keeps_the_old_columns(login_as, make_lead):
    from leadflow.imports.export import COLUMNS

    empty = make_lead(first_name="Emptied")
    empty.custom_fields = {}
    never = make_lead(first_name="Never")
    never.custom_fields = None
    db.session.commit()
    _, client = login_as("viewer")
    header, rows = export(client, "?sort=name&dir=asc")
    assert tuple(header) == COLUMNS and sorted(r["First name"] for r in rows) == ["Emptied", "Never"]


def test_an_export_imports_back_into_the_same_leads(login_as, make_lead, run_import, importer):
    """LeadFlow's own export, imported again (say into a new workspace; here after the leads
    went to the trash): every column it writes maps back to its field, custom columns included."""
    from datetime import date, datetime, timezone

    from leadflow.db import utcnow

    ada = make_lead(first_name="Ada", last_name="Lovelace", email="ada@example.com", phone="+44 20 7946 0018",
                    country="GB", title="Countess", organization="Analytical Engines", source="referral",
                    lifecycle="sql", value="1234.56", currency="EUR", expected_close_date="2027-11-18",
                    tags="math, vip")
    ada.custom_fields = {"Industry": "Computing", "Notes from the fair": "Line one\nLine two"}
    ada.created_at = datetime(2024, 3, 15, 8, 30, tzinfo=timezone.utc)
    db.session.commit()
    _, client = login_as("manager")
    header, rows = export(client)
    assert header[-2:] == ["Custom: Industry", "Custom: Notes from the fair"]
    exported = client.get("/leads/export.csv").data
    ada.deleted_at = utcnow()
    db.session.commit()

    job = run_import(exported, filename="leads-export.csv")
    assert (job.created_count, job.failed_count, job.warned_count) == (1, 0, 0)
    again = db.session.scalar(db.select(Lead).where(Lead.email_key == "ada@example.com", Lead.deleted_at.is_(None)))
    assert again.id != ada.id
    assert (again.first_name, again.last_name, again.phone, again.country, again.title, again.organization.name,
            again.source, again.lifecycle, again.value_cents, again.currency, again.expected_close_date) == (
        "Ada", "Lovelace", "+442079460018", "GB", "Countess", "Analytical Engines", "referral", "sql", 123456, "EUR",
        date(2027, 11, 18))
    assert sorted(t.name for t in again.tags) == ["math", "vip"]
    assert again.created_at.astimezone(timezone.utc) == datetime(2024, 3, 15, 8, 30, tzinfo=timezone.utc)
    assert again.custom_fields == {"Industry": "Computing", "Notes from the fair": "Line one\nLine two"}
