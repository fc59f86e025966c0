"""Which lead field each CSV column fills, with suggestions from the column names that
HubSpot, Pipedrive, Salesforce and Zoho (and people) put in their exports."""

from __future__ import annotations

import re

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

_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("first name", "firstname", "first", "given name", "forename", "contact first name",
                   "person - first name", "lead first name", "vorname", "prénom", "prenom", "nombre"),
    "last_name": ("last name", "lastname", "last", "surname", "family name", "contact last name",
                  "person - last name", "lead last name", "nachname", "nom", "apellido", "apellidos"),
    "full_name": ("name", "full name", "fullname", "contact name", "contact", "person", "person name",
                  "person - name", "lead name", "contact full name"),
    "email": ("email", "e-mail", "email address", "e-mail address", "mail", "work email", "business email",
              "primary email", "person - email", "person - email - work", "contact email", "email 1"),
    "phone": ("phone", "phone number", "telephone", "tel", "mobile", "mobile phone", "mobile phone number",
              "mobile number", "cell", "cell phone", "work phone", "business phone", "direct phone",
              "person - phone", "person - phone - work", "person - phone - mobile", "contact phone",
              "telefon", "telefonnummer", "téléphone", "telephone number", "handy"),
    "title": ("title", "job title", "jobtitle", "position", "role", "designation", "person - job title",
              "contact title"),
    "organization": ("company", "company name", "organization", "organisation", "organization name",
                     "organisation name", "account", "account name", "organization - name",
                     "associated company", "employer", "business name", "firma", "unternehmen", "société",
                     "empresa"),
    "country": ("country", "country/region", "country code", "mailing country", "billing country",
                "person - country", "organization - country"),
    "source": ("source", "lead source", "original source", "original source type", "lead - source",
               "person - source", "deal - source", "lead source type", "channel"),
    "utm_source": ("utm source", "utm_source"),
    "utm_medium": ("utm medium", "utm_medium"),
    "utm_campaign": ("utm campaign", "utm_campaign", "campaign", "campaign name"),
    "utm_term": ("utm term", "utm_term"),
    "utm_content": ("utm content", "utm_content"),
    "value": ("value", "deal value", "amount", "deal amount", "deal - value", "lead - value",
              "opportunity amount", "expected revenue", "potential value", "lead value"),
    "currency": ("currency", "currency code", "currency iso code", "deal - currency", "lead - currency",
                 "lead - value currency", "deal currency"),
    "expected_close_date": ("expected close date", "close date", "closing date", "expected close",
                            "deal - expected close date", "lead - expected close date", "close by"),
    "tags": ("tags", "tag", "labels", "label", "lead - labels", "person - labels", "deal - labels"),
    # Only columns that hold lifecycle stages. A "Lead Status" (HubSpot's NEW / ATTEMPTED_TO_CONTACT /
    # UNQUALIFIED, Salesforce's "Open - Not Contacted", Zoho's "Contact in Future") is a sales
    # status of its own: it is kept as a custom field below, never read as a lifecycle.
    "lifecycle": ("lifecycle", "lifecycle stage", "lead stage"),
    "owner": ("owner", "owner email", "lead owner", "contact owner", "hubspot owner", "account owner",
              "lead - owner", "person - owner", "deal - owner", "assigned to", "sales rep"),
    "stage": ("stage", "pipeline stage", "deal stage", "deal - stage", "lead - stage", "opportunity stage"),
    "notes": ("notes", "note", "description", "comments", "comment", "message", "lead - notes",
              "person - notes", "remarks"),
    "created_at": ("created date", "date created", "created at", "creation date", "lead created", "add time"),
    # Columns other CRMs have and a lead has no field for: kept as custom fields.
    "custom": ("annual revenue", "industry", "no. of employees", "number of employees", "employees",
               "website", "website url", "rating", "city", "state", "state/region", "state/province",
               "zip", "zip code", "postal code", "zip/postal code", "street", "address",
               "secondary email", "linkedin", "twitter", "fax", "salutation", "lead - title",
               "organization - address", "skype id", "lead status", "status", "lead - status"),
}

_PUNCTUATION = re.compile(r"[^0-9a-z]+")


def normalise_header(name: str) -> str:
    """Case, spacing and punctuation do not matter: "E-mail Address" == "email_address"."""
    return _PUNCTUATION.sub("", (name or "").lower())


ALIASES: dict[str, str] = {normalise_header(alias): target
                           for target, aliases in _ALIASES.items() for alias in aliases}


def suggest_target(column: str) -> str:
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
