"""The one duplicate matcher. Lead forms, capture, import and the API all call it.

A lead is a likely duplicate of another when they share a normalised email,
share an E.164 phone number, or have a similar name at the same organization.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from rapidfuzz import fuzz
from sqlalchemy import bindparam, func, or_
from sqlalchemy.orm import joinedload

from leadflow.extensions import db
from leadflow.leads.models import Lead

NAME_SIMILARITY = 88  # rapidfuzz token_sort_ratio, 0..100
MAX_ORG_CANDIDATES = 2000


@dataclass
class DuplicateMatch:
    lead: Lead
    reasons: list[str] = field(default_factory=list)


def _full_name(first: str | None, last: str | None) -> str:
    return " ".join(p for p in ((first or "").strip(), (last or "").strip()) if p).lower()


# The reads every check makes, built once (the lead form asks on every new lead): by email and
# phone, bound by name; and the names of an organization's live leads.
_EXACT: dict[tuple[bool, bool, int, bool, str], object] = {}
_NAMES_AT_ORGANIZATION = (db.select(Lead.id, Lead.first_name, Lead.last_name)
                          .where(Lead.organization_id == bindparam("organization_id"), Lead.deleted_at.is_(None))
                          .limit(MAX_ORG_CANDIDATES))


def _names_at_organization_column(dialect: str):
    """``_NAMES_AT_ORGANIZATION``'s rows as one JSON array of [id, first name, last name], a
    column that rides along with the email and phone matches (evaluated once per statement)."""
    names = _NAMES_AT_ORGANIZATION.subquery()
    row = (func.json_build_array if dialect == "postgresql" else func.json_array)(
        names.c.id, names.c.first_name, names.c.last_name)
    aggregate = func.json_agg(row) if dialect == "postgresql" else func.json_group_array(row)
    return db.select(aggregate).scalar_subquery()


def _exact_statement(by_email: bool, by_phone: bool, rows: int, with_names: bool = False):
    """Leads (with their organization) whose email or phone is the one bound, at most ``rows``:
    one query for both, read through the email and phone indexes. Trashed leads are left out by
    the caller, not in SQL: with ``deleted_at IS NULL`` beside the OR, SQLite walks the index on
    deleted_at over every live lead instead (70 ms instead of 1 at 100,000 leads).

    ``with_names``: each row also carries the names of the bound organization's live leads
    (``_names_at_organization_column``), one round trip less when anything matched (a lead's
    own page always matches itself)."""
    dialect = db.engine.dialect.name
    key = (by_email, by_phone, rows, with_names, dialect)
    statement = _EXACT.get(key)
    if statement is None:
        # A lead whose email was parked beside an older lead's (``Lead.shared_email_key``) is a
        # "same email" match too.
        exact = ([Lead.email_key == bindparam("email_key"), Lead.shared_email_key == bindparam("email_key")]
                 if by_email else []) + ([Lead.phone == bindparam("phone")] if by_phone else [])
        columns = (Lead, _names_at_organization_column(dialect)) if with_names else (Lead,)
        statement = _EXACT[key] = (db.select(*columns).options(joinedload(Lead.organization)).where(or_(*exact))
                                   .limit(rows))
    return statement


def _name_rows(names) -> list[tuple[int, str | None, str | None]]:
    """The JSON array of ``_names_at_organization_column`` (SQLite gives its text) as rows."""
    if isinstance(names, str):
        names = json.loads(names)
    return [tuple(row) for row in names or ()]


def find_duplicates(*, email_key: str | None = None, phone: str | None = None,
                    first_name: str | None = None, last_name: str | None = None,
                    organization_id: int | None = None, exclude_id: int | None = None,
                    limit: int = 10) -> list[DuplicateMatch]:
    """Live leads likely to be the same person, most certain first."""
    found: dict[int, DuplicateMatch] = {}

    def add(lead: Lead, reason: str) -> None:
        if exclude_id is not None and lead.id == exclude_id:
            return
        found.setdefault(lead.id, DuplicateMatch(lead)).reasons.append(reason)

    name = _full_name(first_name, last_name)
    by_name = bool(organization_id and name)
    names_at_organization = None
    if email_key or phone:
        rows = db.session.execute(_exact_statement(bool(email_key), bool(phone), 4 * limit + 1, by_name),
                                  {"email_key": email_key, "phone": phone, "organization_id": organization_id}).all()
        exact = [row[0] for row in rows]
        if by_name and rows:
            names_at_organization = _name_rows(rows[0][1])
        for lead in sorted(exact, key=lambda lead: lead.id):
            if lead.deleted_at is not None:
                continue
            if email_key and email_key in (lead.email_key, lead.shared_email_key):
                add(lead, "same email")
            if phone and lead.phone == phone:
                add(lead, "same phone")
    if by_name:
        if names_at_organization is None:  # nothing matched by email or phone to carry them
            names_at_organization = db.session.execute(_NAMES_AT_ORGANIZATION,
                                                       {"organization_id": organization_id}).all()
        similar = [lead_id for lead_id, first, last in names_at_organization if lead_id != exclude_id
                   and fuzz.token_sort_ratio(name, _full_name(first, last)) >= NAME_SIMILARITY]
        similar = similar[:limit]
        for lead_id in similar:  # already loaded by email or phone: no need to read it again
            if lead_id in found:
                found[lead_id].reasons.append("similar name at the same organization")
        to_load = [lead_id for lead_id in similar if lead_id not in found]
        if to_load:
            for lead in db.session.scalars(db.select(Lead).options(joinedload(Lead.organization))
                                           .where(Lead.deleted_at.is_(None), Lead.id.in_(to_load))):
                add(lead, "similar name at the same organization")
    matches = sorted(found.values(), key=lambda m: (-len(m.reasons), m.lead.id))
    return matches[:limit]


def duplicates_of(lead: Lead, limit: int = 10) -> list[DuplicateMatch]:
    return find_duplicates(
        email_key=lead.email_key or lead.shared_email_key, phone=lead.phone, first_name=lead.first_name,
        last_name=lead.last_name, organization_id=lead.organization_id,
        exclude_id=lead.id, limit=limit,
    )
