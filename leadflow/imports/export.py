"""The lead list as a CSV file: the same filters as the list, streamed, safe to open in a
spreadsheet (cells that would start a formula get a leading apostrophe), UTF-8 with BOM.
Moments are ISO 8601 in the exporting person's time zone, with its UTC offset.

After the fixed ``COLUMNS`` (always the same, in the same order) comes one column per custom
field name that any exported lead has, headed "Custom: <name>", names in alphabetical order;
a lead without that field has the cell empty. The names are read first with one query (the
JSON of each lead's custom fields, taken apart by the database), then the rows are streamed.

A list longer than ``EXPORT_STREAM_MAX_ROWS`` is written by a job instead
(``leadflow.imports.export_jobs``), from the same header and ``rows_csv``: the same bytes."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal

from sqlalchemy import case, func, true
from sqlalchemy.orm import aliased

from leadflow.accounts.models import User
from leadflow.accounts.zones import user_zone
from leadflow.extensions import db
from leadflow.imports.mapping import CUSTOM_COLUMN_PREFIX
from leadflow.leads.models import Lead, Tag, lead_tags
from leadflow.leads.queries import LeadFilters, filtered_leads, lead_order
from leadflow.organizations.models import Organization
from leadflow.pipeline.models import Stage
from leadflow.web.formatting import iso_with_offset

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CUSTOM_HEADER = CUSTOM_COLUMN_PREFIX
BATCH = 1000

COLUMNS = (
    "ID", "First name", "Last name", "Email", "Phone", "Job title", "Organization", "Country", "Source",
    "UTM source", "UTM medium", "UTM campaign", "UTM term", "UTM content", "Owner email", "Lifecycle",
    "Temperature", "Score", "Stage", "Value", "Currency", "Expected close date", "Tags", "Created at",
)


def neutralise(value) -> str:
    """A cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) is made text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _value(cents: int | None) -> str:
    return "" if cents is None else f"{Decimal(cents) / 100:.2f}"


class CsvBuffer:
    """csv.writer into a string that is handed out and emptied a batch at a time."""

    def __init__(self):
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)

    def take(self) -> str:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


def csv_line(cells, bom: bool = False) -> str:
    """One CSV line (a header), with the UTF-8 byte-order mark Excel wants first in the file."""
    out = CsvBuffer()
    out.writer.writerow([neutralise(c) for c in cells])
    return ("\ufeff" if bom else "") + out.take()


def custom_field_names(lead_ids) -> list[str]:
    """The custom field names the leads selected by ``lead_ids`` (a SELECT of lead ids) have,
    sorted as a person reads them."""
    if db.session.get_bind().dialect.name == "postgresql":
        objects = case((func.json_typeof(Lead.custom_fields) == "object", Lead.custom_fields))
        query = db.select(func.json_object_keys(objects).label("key")).where(Lead.id.in_(lead_ids))
    else:
        pairs = func.json_each(Lead.custom_fields).table_valued("key")
        query = (db.select(pairs.c.key).select_from(Lead).join(pairs, true())
                 .where(Lead.id.in_(lead_ids), func.json_type(Lead.custom_fields) == "object"))
    names = {name for name in db.session.scalars(query.distinct()) if name}
    return sorted(names, key=lambda name: (name.casefold(), name))


def _cell(value) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return "" if value is None else str(value)


def export_csv(filters: LeadFilters, viewer_id: int) -> Iterator[str]:
    """The header line (after the byte-order mark, sent ahead), then the rows a batch at a time,
    of the leads ``viewer_id`` sees in the list."""
    viewer = db.session.get(User, viewer_id)
    selected = filtered_leads(filters, viewer).with_only_columns(Lead.id)
    custom_names = custom_field_names(selected)
    yield csv_line(COLUMNS + tuple(CUSTOM_HEADER + name for name in custom_names))
    yield from export_rows(filters, viewer_id, custom_names)


def export_rows(filters: LeadFilters, viewer_id: int, custom_names: list[str] = ()) -> Iterator[str]:
    """The CSV rows (after the header), a batch at a time, of the leads ``viewer_id`` sees in the list,
    with a cell for each of ``custom_names``."""
    viewer = db.session.get(User, viewer_id)
    zone = user_zone(viewer)
    ids = list(db.session.scalars(ordered_ids(filters, viewer)))
    for start in range(0, len(ids), BATCH):
        yield rows_csv(ids[start:start + BATCH], custom_names, zone)


def ordered_ids(filters: LeadFilters, viewer):
    """SELECT of the ids of the leads ``viewer`` sees in the list, in the list's order."""
    return filtered_leads(filters, viewer).with_only_columns(Lead.id).order_by(*lead_order(filters))


def rows_csv(batch: list[int], custom_names, zone) -> str:
    """The CSV rows of the leads ``batch`` (ids, in this order; a lead gone meanwhile is left out)."""
    out = CsvBuffer()
    writer = out.writer
    owner = aliased(User)
    custom_columns = [Lead.custom_fields] if custom_names else []
    rows = {r.id: r for r in db.session.execute(
        db.select(Lead.id, Lead.first_name, Lead.last_name, Lead.email, Lead.phone, Lead.title,
                  Organization.name.label("organization"), Lead.country, Lead.source, Lead.utm_source,
                  Lead.utm_medium, Lead.utm_campaign, Lead.utm_term, Lead.utm_content,
                  owner.email.label("owner_email"), Lead.lifecycle, Lead.temperature, Lead.score,
                  Stage.name.label("stage"), Lead.value_cents, Lead.currency, Lead.expected_close_date,
                  Lead.created_at, *custom_columns)
        .outerjoin(Organization, Lead.organization_id == Organization.id)
        .outerjoin(owner, Lead.owner_id == owner.id)
        .outerjoin(Stage, Lead.stage_id == Stage.id)
        .where(Lead.id.in_(batch))
    )}
    tags: dict[int, list[str]] = {}
    for lead_id, name in db.session.execute(
        db.select(lead_tags.c.lead_id, Tag.name).join(Tag, Tag.id == lead_tags.c.tag_id)
        .where(lead_tags.c.lead_id.in_(batch)).order_by(Tag.name_key)
    ):
        tags.setdefault(lead_id, []).append(name)
    for lead_id in batch:
        r = rows.get(lead_id)
        if r is None:
            continue
        custom = (r.custom_fields if isinstance(r.custom_fields, dict) else {}) if custom_names else {}
        writer.writerow([neutralise(v) for v in (
            r.id, r.first_name, r.last_name, r.email, r.phone, r.title, r.organization, r.country, r.source,
            r.utm_source, r.utm_medium, r.utm_campaign, r.utm_term, r.utm_content, r.owner_email,
            r.lifecycle, r.temperature, r.score, r.stage, _value(r.value_cents), r.currency,
            r.expected_close_date.isoformat() if r.expected_close_date else "",
            ", ".join(tags.get(lead_id, ())), iso_with_offset(r.created_at, zone),
            *(_cell(custom.get(name)) for name in custom_names),
        )])
    return out.take()
