"""Small files written the way the CRMs our users leave write their exports: the header row
each one uses, its encoding, delimiter, line ends, number and date style.

- HubSpot (contacts): UTF-8 with a byte-order mark, commas, CRLF, ISO dates with a time,
  phones as people typed them (``0044 …`` prefixes, national numbers with a country column).
- Pipedrive (leads, German locale): Windows-1252, semicolons, CRLF, decimal commas,
  ``dd.mm.yyyy`` dates.
- Salesforce (leads report, UK locale): UTF-8, commas, LF, ``dd/mm/yyyy`` dates, the
  "Company / Account" column, a multiline description.
- Zoho CRM (leads, US locale): UTF-8, commas, CRLF, ``mm/dd/yyyy hh:mm AM`` times, a formula cell.
"""

from __future__ import annotations

import codecs
import csv
import io


def _csv(rows: list[list[str]], *, delimiter: str = ",", newline: str = "\r\n") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_ALL).writerows(rows)
    return out.getvalue()


HUBSPOT_HEADER = ["Record ID", "First Name", "Last Name", "Email", "Phone Number", "Company Name", "Job Title",
                  "Country/Region", "Lifecycle Stage", "Lead Status", "Create Date", "Contact owner",
                  "Original Source", "Message"]
HUBSPOT_ROWS = [
    ["501", "Ada", "Lovelace", "ada@example.com", "0044 20 7946 8353", "Analytical Engines Ltd", "Mathematician",
     "United Kingdom", "Marketing Qualified Lead", "NEW", "2024-03-15 09:30", "", "Organic Search",
     "First line\r\nSecond line"],
    ["502", "Brian", "Jones", "brian@example.co.uk", "07700 900123", "Jones & Co", "", "United Kingdom", "Lead",
     "ATTEMPTED_TO_CONTACT", "2023-11-02 17:45", "", "Direct Traffic", ""],
    ["503", "Carla", "Díaz", "carla@example.es", "+34 612 345 678", "Díaz Hermanos", "Gerente", "Spain", "Customer",
     "", "2022-01-10 08:00", "", "Referrals", ""],
    ["504", "Dan", "Smith", "dan@example.com", "(415) 555-0101", "Smith Widgets", "CEO", "United States",
     "Lead", "OPEN_DEAL", "2025-06-30 23:15", "", "Paid Search", ""],
    ["505", "Eve", "Taylor", "eve@example.com", "call me after 5", "", "", "United States", "Lead", "", "2025-07-01 10:00",
     "", "", ""],
]


def hubspot() -> bytes:
    return codecs.BOM_UTF8 + _csv([HUBSPOT_HEADER, *HUBSPOT_ROWS]).encode("utf-8")


PIPEDRIVE_HEADER = ["Lead - Title", "Lead - Value", "Lead - Currency of Value", "Lead - Expected close date",
                    "Lead - Labels", "Lead - Lead created", "Person - Name", "Person - Email", "Person - Phone",
                    "Organization - Name"]
PIPEDRIVE_ROWS = [
    ["Müller Lead", "2500,00", "EUR", "18.11.2027", "Hot", "03.02.2025 14:05", "Jürgen Müller",
     "juergen@mueller.example", "0049 30 1234567", "Müller & Söhne GmbH"],
    ["Bérénger Lead", "1.234,56", "EUR", "01.12.2027", "Warm", "28.02.2025 09:00", "François Bérénger",
     "francois@exemple.example", "+33 1 23 45 67 89", "Société Générale Démo"],
    ["Keller Lead", "12.500,00", "CHF", "", "", "15.03.2025 16:45", "Anna Keller", "anna@keller.example",
     "", "Keller AG"],
]


def pipedrive() -> bytes:
    return _csv([PIPEDRIVE_HEADER, *PIPEDRIVE_ROWS], delimiter=";").encode("cp1252")


SALESFORCE_HEADER = ["First Name", "Last Name", "Title", "Company / Account", "Email", "Phone", "Mobile",
                     "Lead Source", "Lead Status", "Rating", "Country", "Created Date", "Description"]
SALESFORCE_ROWS = [
    ["Grace", "Hopper", "Rear Admiral", "Univac Ltd", "grace@univac.example", "020 7946 0018", "", "Web",
     "Open - Not Contacted", "Hot", "GB", "18/11/2025", "Met at the\nnaval conference"],
    ["Alan", "Turing", "", "Bletchley Analytics", "alan@bletchley.example", "", "07700 900456", "Trade Show",
     "Working - Contacted", "Warm", "GB", "05/03/2025", ""],
]


def salesforce() -> bytes:
    return _csv([SALESFORCE_HEADER, *SALESFORCE_ROWS], newline="\n").encode("utf-8")


ZOHO_HEADER = ["Lead Owner", "First Name", "Last Name", "Company", "Email", "Phone", "Mobile", "Lead Source",
               "Lead Status", "Created Time", "Description", "Tag"]
ZOHO_ROWS = [
    ["Ima Porter", "Hedy", "Lamarr", "=HYPERLINK(\"http://example.com\",\"Frequency Hopping\")",
     "hedy@example.com", "", "+1 310 555 0142", "Cold Call", "Contact in Future", "11/18/2025 02:30 PM",
     "Wants a demo;\nasks about pricing", "vip; inventor"],
    ["Ima Porter", "Katherine", "Johnson", "Orbital Maths", "katherine@example.com", "757-555-0199", "",
     "Web Download", "Not Contacted", "01/05/2025 09:05 AM", "", ""],
]


def zoho() -> bytes:
    return _csv([ZOHO_HEADER, *ZOHO_ROWS]).encode("utf-8")
