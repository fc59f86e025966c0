"""Exports from the CRMs our users leave, imported as they come (the suggested mapping, the
detected encoding, delimiter, decimal separator and date formats), with every stored value
checked exactly: names with accents, E.164 phones read in their row's country, amounts in
their own currency, dates in the file's order of day and month, original created times in
the importer's zone, multiline notes, formula cells kept as text, statuses kept as custom
fields. The files are in ``crm_exports``."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from leadflow.activities.models import Activity
from leadflow.extensions import db
from leadflow.leads.models import Lead
from tests.imports import crm_exports

UTC = timezone.utc


@pytest.fixture(autouse=True)
def importer_in_berlin(importer):
    """Times a file gives without a zone are the importer's: Berlin, to tell them from UTC."""
    importer.timezone = "Europe/Berlin"
    db.session.commit()
    return importer


def imported(job) -> dict[str, Lead]:
    leads = db.session.scalars(select(Lead).where(Lead.import_job_id == job.id, Lead.deleted_at.is_(None))).all()
    return {lead.email: lead for lead in leads}


def notes_of(lead: Lead) -> list[list[str]]:
    return [a.body.splitlines() for a in db.session.scalars(
        select(Activity).where(Activity.lead_id == lead.id, Activity.kind == "note").order_by(Activity.id))]


def stored(lead: Lead) -> dict:
    return {
        "name": (lead.first_name, lead.last_name), "phone": lead.phone, "country": lead.country,
        "organization": lead.organization.name if lead.organization else None, "title": lead.title,
        "lifecycle": lead.lifecycle, "source": lead.source, "value": (lead.value_cents, lead.currency),
        "closes": lead.expected_close_date, "created": lead.created_at.astimezone(UTC),
        "tags": sorted(t.name for t in lead.tags), "custom": lead.custom_fields,
    }


def test_a_hubspot_contacts_export(run_import, importer):
    job = run_import(crm_exports.hubspot(), filename="hubspot-contacts.csv")
    assert (job.encoding, job.delimiter) == ("utf-8-sig", ",")
    assert (job.status, job.created_count, job.failed_count, job.warned_count) == ("done", 5, 0, 1)
    leads = imported(job)
    assert stored(leads["ada@example.com"]) == {
        "name": ("Ada", "Lovelace"), "phone": "+442079468353", "country": "GB",
        "organization": "Analytical Engines Ltd", "title": "Mathematician", "lifecycle": "mql",
        "source": "website", "value": (None, leads["ada@example.com"].currency), "closes": None,
        "created": datetime(2024, 3, 15, 8, 30, tzinfo=UTC), "tags": [],
        "custom": {"Record ID": "501", "Lead Status": "NEW"}}
    assert notes_of(leads["ada@example.com"]) == [["First line", "Second line"]]
    brian = stored(leads["brian@example.co.uk"])
    assert (brian["phone"], brian["country"], brian["organization"], brian["lifecycle"], brian["created"],
            brian["custom"]) == ("+447700900123", "GB", "Jones & Co", "lead", datetime(2023, 11, 2, 16, 45, tzinfo=UTC),
                                 {"Record ID": "502", "Lead Status": "ATTEMPTED_TO_CONTACT"})
    carla = stored(leads["carla@example.es"])
    assert (carla["name"], carla["phone"], carla["country"], carla["organization"], carla["lifecycle"],
            carla["source"], carla["created"]) == (
        ("Carla", "Díaz"), "+34612345678", "ES", "Díaz Hermanos", "customer", "referral",
        datetime(2022, 1, 10, 7, 0, tzinfo=UTC))
    dan = stored(leads["dan@example.com"])
    assert (dan["phone"], dan["country"], dan["source"], dan["created"]) == (
        "+14155550101", "US", "advertising", datetime(2025, 6, 30, 21, 15, tzinfo=UTC))
    # An optional cell that cannot be read is left out; the lead is kept, with a warning.
    eve = stored(leads["eve@example.com"])
    assert (eve["name"], eve["phone"], eve["created"]) == (("Eve", "Taylor"), None,
                                                            datetime(2025, 7, 1, 8, 0, tzinfo=UTC))


def test_a_pipedrive_leads_export_with_decimal_commas_and_european_dates(run_import):
    job = run_import(crm_exports.pipedrive(), filename="pipedrive-leads.csv")
    assert (job.encoding, job.delimiter, job.decimal_separator) == ("cp1252", ";", ",")
    assert (job.status, job.created_count, job.failed_count, job.warned_count) == ("done", 3, 0, 0)
    leads = imported(job)
    assert stored(leads["juergen@mueller.example"]) == {
        "name": ("Jürgen", "Müller"), "phone": "+49301234567", "country": None,
        "organization": "Müller & Söhne GmbH", "title": None, "lifecycle": "lead", "source": None,
        "value": (250000, "EUR"), "closes": date(2027, 11, 18),
        "created": datetime(2025, 2, 3, 13, 5, tzinfo=UTC), "tags": ["Hot"],
        "custom": {"Lead - Title": "Müller Lead"}}
    francois = stored(leads["francois@exemple.example"])
    assert (francois["name"], francois["phone"], francois["organization"], francois["value"], francois["closes"],
            francois["created"]) == (("François", "Bérénger"), "+33123456789", "Société Générale Démo",
                                     (123456, "EUR"), date(2027, 12, 1), datetime(2025, 2, 28, 8, 0, tzinfo=UTC))
    anna = stored(leads["anna@keller.example"])
    assert (anna["phone"], anna["value"], anna["closes"], anna["created"]) == (
        None, (1250000, "CHF"), None, datetime(2025, 3, 15, 15, 45, tzinfo=UTC))


def test_a_salesforce_leads_report_with_day_first_dates(run_import):
    job = run_import(crm_exports.salesforce(), filename="salesforce-leads.csv")
    assert (job.encoding, job.delimiter) == ("utf-8", ",")
    assert (job.status, job.created_count, job.failed_count, job.warned_count) == ("done", 2, 0, 0)
    leads = imported(job)
    grace = stored(leads["grace@univac.example"])
    assert grace == {
        "name": ("Grace", "Hopper"), "phone": "+442079460018", "country": "GB", "organization": "Univac Ltd",
        "title": "Rear Admiral", "lifecycle": "lead", "source": "website", "value": (None, grace["value"][1]),
        "closes": None, "created": datetime(2025, 11, 17, 23, 0, tzinfo=UTC), "tags": [],
        "custom": {"Lead Status": "Open - Not Contacted", "Rating": "Hot"}}
    assert notes_of(leads["grace@univac.example"]) == [["Met at the", "naval conference"]]
    alan = stored(leads["alan@bletchley.example"])
    assert (alan["phone"], alan["title"], alan["source"], alan["created"], alan["custom"]) == (
        "+447700900456", None, "event", datetime(2025, 3, 4, 23, 0, tzinfo=UTC),
        {"Lead Status": "Working - Contacted", "Rating": "Warm"})


def test_a_zoho_leads_export_with_month_first_times_and_a_formula_cell(run_import, importer):
    job = run_import(crm_exports.zoho(), filename="zoho-leads.csv")
    assert (job.status, job.created_count, job.failed_count, job.warned_count) == ("done", 2, 0, 0)
    leads = imported(job)
    hedy = stored(leads["hedy@example.com"])
    assert (hedy["organization"], hedy["phone"], hedy["source"], hedy["created"], hedy["tags"], hedy["custom"]) == (
        '=HYPERLINK("http://example.com","Frequency Hopping")', "+13105550142", "cold outreach",
        datetime(2025, 11, 18, 13, 30, tzinfo=UTC), ["inventor", "vip"], {"Lead Status": "Contact in Future"})
    assert leads["hedy@example.com"].owner_id == importer.id
    assert notes_of(leads["hedy@example.com"]) == [["Wants a demo;", "asks about pricing"]]
    katherine = stored(leads["katherine@example.com"])
    assert (katherine["phone"], katherine["source"], katherine["created"]) == (
        "+17575550199", "web form", datetime(2025, 1, 5, 8, 5, tzinfo=UTC))
