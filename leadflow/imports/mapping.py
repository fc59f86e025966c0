"""Which lead field each CSV column fills, with suggestions from the column names that
HubSpot, Pipedrive, Salesforce and Zoho (and people) put in their exports."""

from __future__ import annotations

import re

from leadflow.imports.headers import all_known_headers

# Every target a column can map to, in the order the mapping menu lists them.
TARGETS: dict[str, str] = {
    "ignore": "Don't import",
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name (split into first and last)",
    "email": "Email",
    "phone": "Phone",
    "title": "Job title",
    "organization": "Organization",
    "country": "Country",
    "source": "Source",
    "utm_source": "UTM source",
    "utm_medium": "UTM medium",
    "utm_campaign": "UTM campaign",
    "utm_term": "UTM term",
    "utm_content": "UTM content",
    "value": "Deal value",
    "currency": "Currency",
    "expected_close_date": "Expected close date",
    "tags": "Tags (comma-separated)",
    "lifecycle": "Lifecycle stage",
    "owner": "Owner (user e-mail or name)",
    "stage": "Pipeline stage (by name)",
    "notes": "Notes (added to the timeline)",
    "created_at": "Created date (when the lead was first recorded)",
    "custom": "Custom field (named after the column)",
}

# Names people give columns in files they make themselves (and in other languages). The names
# CRMs write in their exports are in ``headers.KNOWN_HEADERS``; both feed ``ALIASES``.
GENERIC_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("first name", "firstname", "first", "given name", "forename", "contact first name",
                   "lead first name", "vorname", "prénom", "prenom", "nombre"),
    "last_name": ("last name", "lastname", "last", "surname", "family name", "contact last name",
                  "lead last name", "nachname", "nom", "apellido", "apellidos"),
    "full_name": ("name", "full name", "fullname", "contact name", "contact", "person", "person name",
                  "lead name", "contact full name"),
    "email": ("email", "e-mail", "email address", "e-mail address", "mail", "work email", "business email",
              "primary email", "contact email", "email 1"),
    "phone": ("phone", "phone number", "telephone", "tel", "mobile", "mobile phone",
              "mobile number", "cell", "cell phone", "work phone", "business phone", "direct phone",
              "contact phone", "telefon", "telefonnummer", "téléphone", "telephone number", "handy"),
    "title": ("title", "job title", "jobtitle", "position", "role", "contact title"),
    "organization": ("company", "company name", "organization", "organisation", "organization name",
                     "organisation name", "account", "account name", "employer", "business name", "firma",
                     "unternehmen", "société", "empresa"),
    "country": ("country", "country code"),
    "source": ("source", "lead source", "original source type", "lead source type", "channel"),
    "utm_source": ("utm source", "utm_source"),
    "utm_medium": ("utm medium", "utm_medium"),
    "utm_campaign": ("utm campaign", "utm_campaign", "campaign", "campaign name"),
    "utm_term": ("utm term", "utm_term"),
    "utm_content": ("utm content", "utm_content"),
    "value": ("value", "deal value", "amount", "deal amount", "opportunity amount", "expected revenue",
              "potential value", "lead value"),
    "currency": ("currency", "currency code", "currency iso code", "deal currency"),
    "expected_close_date": ("expected close date", "close date", "closing date", "expected close", "close by"),
    "tags": ("tags", "tag", "labels", "label"),
    # Only columns that hold lifecycle stages: a status column ("Lead Status", "Status") is a
    # sales status of its own and is kept as a custom field (see ``headers``).
    "lifecycle": ("lifecycle", "lifecycle stage"),
    "owner": ("owner", "owner email", "hubspot owner", "account owner", "assigned to", "sales rep"),
    "stage": ("stage", "pipeline stage", "deal stage", "opportunity stage"),
    "notes": ("notes", "note", "description", "comments", "comment", "message", "remarks"),
    "created_at": ("created", "created at", "created on", "date created", "creation date", "date added",
                   "created date", "lead created", "add time"),
    # Columns a lead has no field for: kept as custom fields.
    "custom": ("annual revenue", "industry", "number of employees", "employees", "website", "rating", "city",
               "state", "zip", "zip code", "postal code", "street", "address", "linkedin", "twitter", "fax",
               "salutation", "status"),
}

_PUNCTUATION = re.compile(r"[^0-9a-z]+")


def normalise_header(name: str) -> str:
    """Case, spacing and punctuation do not matter: "E-mail Address" == "email_address"."""
    return _PUNCTUATION.sub("", (name or "").lower())


def alias_entries() -> list[tuple[str, str, str]]:
    """(where, name, target) for every name the mapping step knows: the generic names, then
    every CRM export's columns (``headers``)."""
    generic = [("generic", alias, target) for target, aliases in GENERIC_ALIASES.items() for alias in aliases]
    return generic + all_known_headers()


# Normalised column name → target. A name listed twice means the same target (a test checks).
ALIASES: dict[str, str] = {normalise_header(name): target for _where, name, target in alias_entries()}


# LeadFlow's own export heads each custom field "Custom: <name>" (``imports.export``): such a
# column goes back into the custom field of that name.
CUSTOM_COLUMN_PREFIX = "Custom: "


def custom_field_name(column: str) -> str:
    """The custom field a column fills: its name, without the export's "Custom: " prefix."""
    name = column.removeprefix(CUSTOM_COLUMN_PREFIX).strip()
    return name or column


def suggest_target(column: str) -> str:
    if column.startswith(CUSTOM_COLUMN_PREFIX) and column[len(CUSTOM_COLUMN_PREFIX):].strip():
        return "custom"
    return ALIASES.get(normalise_header(column), "ignore")


def suggest_mapping(columns: list[str]) -> list[str]:
    """A target for each column. Several columns may fill one field ("Phone" and "Mobile"):
    each row takes the first of them that is not empty."""
    return [suggest_target(column) for column in columns]


def mapping_problems(mapping: list[str]) -> list[str]:
    """What stops this mapping from making leads, in the user's words."""
    problems = []
    unknown = [t for t in mapping if t not in TARGETS]
    if unknown:
        problems.append("Choose a field from the list for every column.")
    chosen = set(mapping)
    if not chosen & {"first_name", "last_name", "full_name"}:
        problems.append("Map at least one column to a name (first name, last name or full name).")
    if not chosen & {"email", "phone"}:
        problems.append("Map at least one column to Email or Phone: a lead needs one of them.")
    return problems
