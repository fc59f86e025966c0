"""Column names from other CRMs' exports are mapped to lead fields without help."""

from __future__ import annotations

import pytest

from leadflow.imports.mapping import mapping_problems, normalise_header, suggest_mapping

EXPORTS = {
    "HubSpot": (
        ["Record ID", "First Name", "Last Name", "Email", "Phone Number", "Mobile Phone Number", "Company Name",
         "Job Title", "Lifecycle Stage", "Lead Status", "Contact owner", "Country/Region", "Original Source",
         "Annual Revenue"],
        ["custom", "first_name", "last_name", "email", "phone", "phone", "organization", "title", "lifecycle",
         "custom", "owner", "country", "source", "custom"],
    ),
    "Pipedrive": (
        ["Person - Name", "Person - Email", "Person - Phone", "Organization - Name", "Lead - Labels",
         "Lead - Owner", "Lead - Source", "Deal - Value", "Deal - Currency", "Deal - Stage",
         "Deal - Expected close date"],
        ["full_name", "email", "phone", "organization", "tags", "owner", "source", "value", "currency", "stage",
         "expected_close_date"],
    ),
    "Salesforce": (
        ["First Name", "Last Name", "Title", "Company", "Email", "Phone", "Mobile", "Lead Source", "Lead Status",
         "Industry", "Annual Revenue", "Lead Owner", "Description", "Country"],
        ["first_name", "last_name", "title", "organization", "email", "phone", "phone", "source", "custom",
         "custom", "custom", "owner", "notes", "country"],
    ),
    "Zoho": (
        ["Lead Owner", "First Name", "Last Name", "Email", "Phone", "Designation", "Company", "Lead Source",
         "Lead Status", "No. of Employees", "Secondary Email", "Tag", "Description", "Website"],
        ["owner", "first_name", "last_name", "email", "phone", "title", "organization", "source", "custom",
         "custom", "custom", "tags", "notes", "custom"],
    ),
}


@pytest.mark.parametrize("crm", sorted(EXPORTS))
def test_crm_export_headers_are_recognised(crm):
    headers, expected = EXPORTS[crm]
    assert suggest_mapping(headers) == expected


@pytest.mark.parametrize("header", ["E-mail Address", "email_address", "  EMAIL ADDRESS ", "Email-Address"])
def test_case_space_and_punctuation_do_not_matter(header):
    assert normalise_header(header) == "emailaddress"
    assert suggest_mapping([header]) == ["email"]


def test_unknown_columns_are_not_imported_by_default():
    assert suggest_mapping(["Favourite colour", "Number of page views"]) == ["ignore", "ignore"]


def test_a_mapping_needs_a_name_and_a_contact():
    assert mapping_problems(["email"]) == ["Map at least one column to a name (first name, last name or full name)."]
    assert mapping_problems(["full_name"]) == ["Map at least one column to Email or Phone: a lead needs one of them."]
    assert mapping_problems(["full_name", "phone"]) == []
    assert "Choose a field" in mapping_problems(["full_name", "email", "shoe_size"])[0]
