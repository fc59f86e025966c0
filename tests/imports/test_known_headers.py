"""The column names of HubSpot, Pipedrive, Salesforce and Zoho exports map to the right lead
fields: in the table of known headers (``leadflow.imports.headers``), in ``suggest_mapping``, and
in the mapping step a user sees after uploading such a file. Status columns are never read as
lifecycles; organization columns fill the lead's organization."""

from __future__ import annotations

import io
import re
from collections import defaultdict

import pytest
from sqlalchemy import select

from leadflow.extensions import db
from leadflow.imports.headers import KNOWN_HEADERS, OTHER_SPELLINGS
from leadflow.imports.mapping import TARGETS, alias_entries, normalise_header, suggest_mapping, suggest_target
from leadflow.leads.models import Lead

# Each CRM's export: its header row as the CRM writes it, one data row, the encoding and delimiter
# it is written with, and the field each column must be mapped to. Written out here, apart from
# the table, so a wrong entry in the table fails a test.
EXPORTS = {
    "HubSpot": {
        "encoding": "utf-8-sig", "delimiter": ",",
        "columns": [
            ("Record ID", "custom", "51"),
            ("First Name", "first_name", "Ada"),
            ("Last Name", "last_name", "Lovelace"),
            ("Email", "email", "ada@example.com"),
            ("Phone Number", "phone", "+44 20 7946 0958"),
            ("Mobile Phone Number", "phone", ""),
            ("Company Name", "organization", "Analytical Engines Ltd"),
            ("Job Title", "title", "Mathematician"),
            ("Country/Region", "country", "United Kingdom"),
            ("State/Region", "custom", "London"),
            ("City", "custom", "London"),
            ("Postal Code", "custom", "SW1A 1AA"),
            ("Website URL", "custom", "https://engines.example"),
            ("Annual Revenue", "custom", "1000000"),
            ("Industry", "custom", "COMPUTER_SOFTWARE"),
            ("Number of Employees", "custom", "25"),
            ("Lifecycle Stage", "lifecycle", "Marketing Qualified Lead"),
            ("Lead Status", "custom", "ATTEMPTED_TO_CONTACT"),
            ("Create Date", "created_at", "2024-03-05 14:23"),
            ("Contact owner", "owner", ""),
            ("Original Source", "source", "Organic Search"),
            ("Last Activity Date", "ignore", "2025-01-10 09:00"),
            ("Last Modified Date", "ignore", "2025-01-11 09:00"),
            ("Marketing contact status", "ignore", "Marketing contact"),
            ("Associated Company", "organization", "Analytical Engines Ltd"),
        ],
    },
    "Pipedrive leads": {
        "encoding": "latin-1", "delimiter": ";",
        "columns": [
            ("Lead - ID", "custom", "1b2c3d4e-0000-4000-8000-000000000001"),
            ("Lead - Title", "custom", "Müller GmbH deal"),
            ("Lead - Value", "value", "2500"),
            ("Lead - Currency of Value", "currency", "EUR"),
            ("Lead - Expected close date", "expected_close_date", "2027-11-18"),
            ("Lead - Labels", "tags", "Hot"),
            ("Lead - Owner", "owner", ""),
            ("Lead - Source", "source", "Web forms"),
            ("Lead - Lead created", "created_at", "2025-06-01 10:00:00"),
            ("Lead - Update time", "ignore", "2025-06-02 10:00:00"),
            ("Person - Name", "full_name", "Jürgen Müller"),
            ("Person - Email", "email", "juergen@mueller.example"),
            ("Person - Phone", "phone", "+49 30 901820"),
            ("Organization - Name", "organization", "Müller GmbH"),
            ("Organization - Address", "custom", "Unter den Linden 1, Berlin"),
        ],
    },
    "Pipedrive people": {
        "encoding": "utf-8", "delimiter": ",",
        "columns": [
            ("Person - ID", "custom", "42"),
            ("Person - Name", "full_name", "Grace Hopper"),
            ("Person - Organization", "organization", "Navy Labs"),
            ("Person - Email - Work", "email", "grace@navy.example"),
            ("Person - Email - Home", "email", ""),
            ("Person - Phone - Work", "phone", ""),
            ("Person - Phone - Mobile", "phone", "+1 415 555 0101"),
            ("Person - Labels", "tags", "Customer"),
            ("Person - Owner", "owner", ""),
            ("Person - Person created", "created_at", "2024-01-02 03:04:05"),
            ("Person - Update time", "ignore", "2024-02-02 03:04:05"),
            ("Person - Last activity date", "ignore", "2024-02-01"),
        ],
    },
    "Pipedrive people (list view)": {
        "encoding": "utf-8", "delimiter": ",",
        "columns": [
            ("Name", "full_name", "Katherine Johnson"),
            ("Organization", "organization", "Langley"),
            ("Email - Work", "email", "katherine@langley.example"),
            ("Phone - Mobile", "phone", ""),
            ("Labels", "tags", ""),
            ("Person created", "created_at", "2024-01-02"),
            ("Organization - Name", "organization", "Langley"),
        ],
    },
    "Salesforce leads report": {
        "encoding": "utf-8", "delimiter": ",", "quote_all": True,
        "columns": [
            ("Lead Owner", "owner", ""),
            ("Salutation", "custom", "Ms."),
            ("First Name", "first_name", "Margaret"),
            ("Last Name", "last_name", "Hamilton"),
            ("Title", "title", "Director"),
            ("Company / Account", "organization", "Apollo Software"),
            ("Email", "email", "margaret@apollo.example"),
            ("Phone", "phone", "(415) 555-0102"),
            ("Mobile", "phone", ""),
            ("Lead Source", "source", "Web"),
            ("Lead Status", "custom", "Open - Not Contacted"),
            ("Rating", "custom", "Hot"),
            ("Create Date", "created_at", "3/5/2024"),
            ("Street", "custom", "1 Main St"),
            ("City", "custom", "Boston"),
            ("State/Province", "custom", "MA"),
            ("Zip/Postal Code", "custom", "02101"),
            ("Country", "country", "US"),
            ("Annual Revenue", "custom", "5000000"),
            ("Industry", "custom", "Technology"),
            ("No. of Employees", "custom", "120"),
            ("Website", "custom", "apollo.example"),
            ("Lead ID", "custom", "00Q5g00000AbCdEEAV"),
            ("Last Activity", "ignore", "4/1/2024"),
        ],
    },
    "Salesforce contacts report": {
        "encoding": "utf-8", "delimiter": ",", "quote_all": True,
        "columns": [
            ("Contact Owner", "owner", ""),
            ("First Name", "first_name", "Dorothy"),
            ("Last Name", "last_name", "Vaughan"),
            ("Account Name", "organization", "Langley Research"),
            ("Email", "email", "dorothy@langley.example"),
            ("Mailing Country", "country", "US"),
            ("Created Date", "created_at", "3/5/2024"),
        ],
    },
    "Salesforce leads (API names)": {
        "encoding": "utf-8", "delimiter": ",",
        "columns": [
            ("Id", "ignore", "00Q5g00000AbCdEEAV"),
            ("FirstName", "first_name", "Annie"),
            ("LastName", "last_name", "Easley"),
            ("Company", "organization", "Lewis Research"),
            ("Title", "title", "Engineer"),
            ("Email", "email", "annie@lewis.example"),
            ("MobilePhone", "phone", ""),
            ("LeadSource", "source", "Partner Referral"),
            ("Status", "custom", "Working - Contacted"),
            ("Rating", "custom", "Warm"),
            ("OwnerId", "custom", "0055g00000XyZaBAAV"),
            ("CreatedDate", "created_at", "2024-03-05T14:23:00.000Z"),
            ("LastModifiedDate", "ignore", "2024-04-05T14:23:00.000Z"),
            ("Description", "notes", "Met at the expo."),
        ],
    },
    "Zoho CRM leads": {
        "encoding": "utf-8", "delimiter": ",",
        "columns": [
            ("Record Id", "custom", "zcrm_4150868000000224005"),
            ("Lead Owner.id", "ignore", "zcrm_4150868000000214001"),
            ("Lead Owner", "owner", ""),
            ("Company", "organization", "Zylker"),
            ("First Name", "first_name", "Chieko"),
            ("Last Name", "last_name", "Kaneko"),
            ("Designation", "title", "CTO"),
            ("Email", "email", "chieko@zylker.example"),
            ("Phone", "phone", "+81 3-1234-5678"),
            ("Mobile", "phone", ""),
            ("Lead Source", "source", "Trade Show"),
            ("Lead Status", "custom", "Contact in Future"),
            ("Industry", "custom", "ASP (Application Service Provider)"),
            ("Annual Revenue", "custom", "850000"),
            ("No. of Employees", "custom", "40"),
            ("Created Time", "created_at", "2024-03-05 14:23:00"),
            ("Modified Time", "ignore", "2024-04-05 14:23:00"),
            ("Last Activity Time", "ignore", "2024-04-05 14:23:00"),
            ("Street", "custom", "1-2-3 Shibuya"),
            ("City", "custom", "Tokyo"),
            ("State", "custom", "Tokyo"),
            ("Zip Code", "custom", "150-0002"),
            ("Country", "country", "Japan"),
            ("Description", "notes", "Asked for a demo."),
            ("Tag", "tags", "Expo 2024"),
        ],
    },
}


def _csv(export: dict, rows: int = 1) -> bytes:
    """The export as its CRM writes it: header row, then the sample row (quoted where needed)."""
    delimiter = export["delimiter"]

    def line(cells):
        return delimiter.join(f'"{c}"' if export.get("quote_all") or delimiter in c else c for c in cells)

    text = line([name for name, _, _ in export["columns"]]) + "\r\n"
    text += (line([value for _, _, value in export["columns"]]) + "\r\n") * rows
    return text.encode(export["encoding"])


def upload(client, content: bytes, name: str):
    return client.post("/imports/new", data={"file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def proposed_mapping(page: str) -> list[str]:
    """The target each column's menu has selected on the mapping page, in column order."""
    menus = re.findall(r'<select id="map-(\d+)" name="map-\1">(.*?)</select>', page, flags=re.S)
    assert [int(i) for i, _ in menus] == list(range(len(menus)))
    chosen = []
    for _, options in menus:
        selected = re.findall(r'<option value="([a-z_]+)" selected>', options)
        assert len(selected) == 1, options[:200]
        chosen.append(selected[0])
    return chosen


@pytest.mark.parametrize("crm", sorted(EXPORTS))
def test_every_column_of_the_export_maps_to_the_right_field(crm):
    columns = EXPORTS[crm]["columns"]
    names = [name for name, _, _ in columns]
    assert dict(zip(names, suggest_mapping(names))) == {name: target for name, target, _ in columns}


@pytest.mark.parametrize("crm", sorted(EXPORTS))
def test_uploading_the_export_proposes_that_mapping_in_the_mapping_step(login_as, crm):
    export = EXPORTS[crm]
    _, client = login_as("manager")
    response = upload(client, _csv(export), f"{crm}.csv")
    assert response.status_code == 303
    job_id = int(response.headers["Location"].split("/imports/")[1].split("/")[0])
    page = client.get(f"/imports/{job_id}/mapping").get_data(as_text=True)
    for name, _, _ in export["columns"][:3]:
        assert f'<th scope="row" class="wrap">{name}</th>' in page  # the column names read right
    assert proposed_mapping(page) == [target for _, target, _ in export["columns"]]


@pytest.mark.parametrize("export", sorted(KNOWN_HEADERS))
def test_the_table_of_known_headers_is_what_the_mapping_step_suggests(export):
    """The whole header row of each export in the table, as the CRM writes it."""
    headers = KNOWN_HEADERS[export]
    names = [name for name, _ in headers]
    assert len(set(names)) == len(names), "a column listed twice in one export"
    assert suggest_mapping(names) == [target for _, target in headers]


@pytest.mark.parametrize("crm", sorted(OTHER_SPELLINGS))
def test_other_spellings_of_a_crms_columns_are_recognised(crm):
    for name, target in OTHER_SPELLINGS[crm]:
        assert suggest_target(name) == target, name


def test_every_known_header_maps_to_a_real_target_and_no_name_to_two():
    targets_by_name = defaultdict(set)
    for where, name, target in alias_entries():
        assert target in TARGETS, (where, name, target)
        targets_by_name[normalise_header(name)].add(target)
    clashes = {name: targets for name, targets in targets_by_name.items() if len(targets) > 1}
    assert clashes == {}


def test_the_table_covers_each_crm_and_its_created_and_organization_columns():
    exports = " ".join(KNOWN_HEADERS)
    for crm in ("HubSpot", "Pipedrive", "Salesforce", "Zoho"):
        assert crm in exports
    created = {name for _, name, target in alias_entries() if target == "created_at"}
    assert {"Create Date", "Created Date", "CreatedDate", "Created Time", "Lead - Lead created",
            "Person - Person created", "Lead created"} <= created
    assert {suggest_target(n) for n in ("Organization - Name", "Company / Account", "Account Name",
                                        "Company Name", "Company", "Organization")} == {"organization"}


@pytest.mark.parametrize("name", ["Lead Status", "Status", "Rating", "Lead - Status", "Deal - Status",
                                  "lead_status", "LEAD STATUS"])
def test_a_status_column_is_never_read_as_a_lifecycle(name):
    assert suggest_target(name) == "custom"


@pytest.mark.parametrize("name", ["Last Activity Date", "Last Modified Date", "Modified Time", "Last Activity Time",
                                  "LastModifiedDate", "Lead - Update time", "Person - Update time"])
def test_modified_and_last_activity_dates_are_not_imported(name):
    assert suggest_target(name) == "ignore"


def _import_through_the_screens(client, content: bytes, name: str) -> int:
    """Upload, keep the proposed mapping (a created date column set to "Don't import"), start."""
    response = upload(client, content, name)
    job_id = int(response.headers["Location"].split("/imports/")[1].split("/")[0])
    mapping = proposed_mapping(client.get(f"/imports/{job_id}/mapping").get_data(as_text=True))
    form = {f"map-{i}": ("ignore" if target == "created_at" else target) for i, target in enumerate(mapping)}
    assert client.post(f"/imports/{job_id}/mapping", data=form).status_code == 303
    assert client.post(f"/imports/{job_id}/start", data={"duplicate_policy": "skip"}).status_code == 303
    page = client.get(f"/imports/{job_id}").get_data(as_text=True)
    assert 'id="count-created">1<' in page and 'id="count-failed">0<' in page, page
    return job_id


@pytest.mark.parametrize("crm, email, organization", [
    ("Pipedrive leads", "juergen@mueller.example", "Müller GmbH"),
    ("Pipedrive people (list view)", "katherine@langley.example", "Langley"),
    ("Salesforce leads report", "margaret@apollo.example", "Apollo Software"),
    ("Salesforce contacts report", "dorothy@langley.example", "Langley Research"),
    ("Salesforce leads (API names)", "annie@lewis.example", "Lewis Research"),
])
def test_an_import_stores_the_organization_column(login_as, crm, email, organization):
    _, client = login_as("manager")
    _import_through_the_screens(client, _csv(EXPORTS[crm]), f"{crm}.csv")
    lead = db.session.scalar(select(Lead).where(Lead.email == email))
    assert lead.organization is not None and lead.organization.name == organization


def test_a_salesforce_lead_keeps_its_status_and_rating_as_custom_fields_not_as_its_lifecycle(login_as):
    _, client = login_as("manager")
    _import_through_the_screens(client, _csv(EXPORTS["Salesforce leads report"]), "leads.csv")
    lead = db.session.scalar(select(Lead).where(Lead.email == "margaret@apollo.example"))
    assert lead.lifecycle == "lead"  # the default: "Open - Not Contacted" is not a lifecycle
    assert lead.custom_fields["Lead Status"] == "Open - Not Contacted"
    assert lead.custom_fields["Rating"] == "Hot"
    assert lead.custom_fields["Lead ID"] == "00Q5g00000AbCdEEAV"  # to find the lead in Salesforce again
    assert "Last Activity" not in lead.custom_fields
    assert (lead.first_name, lead.last_name, lead.title, lead.country) == ("Margaret", "Hamilton", "Director", "US")


def test_a_hubspot_contact_keeps_its_lifecycle_and_its_lead_status_apart(login_as):
    _, client = login_as("manager")
    _import_through_the_screens(client, _csv(EXPORTS["HubSpot"]), "hubspot-crm-exports-all-contacts.csv")
    lead = db.session.scalar(select(Lead).where(Lead.email == "ada@example.com"))
    assert lead.lifecycle == "mql"
    assert lead.custom_fields["Lead Status"] == "ATTEMPTED_TO_CONTACT"
    assert lead.custom_fields["Record ID"] == "51"
    assert lead.organization.name == "Analytical Engines Ltd"
    assert lead.country == "GB" and lead.source == "website"
    assert "Last Activity Date" not in lead.custom_fields and "Marketing contact status" not in lead.custom_fields
