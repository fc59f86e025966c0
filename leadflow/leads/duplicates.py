"""The one duplicate matcher. Lead forms, capture, import and the API all call it.

A lead is a likely duplicate of another when they share a normalised email,
share an E.164 phone number, or have a similar name at the same organization.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rapidfuzz import fuzz
from sqlalchemy import bindparam, or_
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
_EXACT: dict[tuple[bool, bool, int], object] = {}
_NAMES_AT_ORGANIZATION = (db.select(Lead.id, Lead.first_name, Lead.last_name)
                          .where(Lead.organization_id == bindparam("organization_id"), Lead.deleted_at.is_(None))
                          .limit(MAX_ORG_CANDIDATES))


def _exact_statement(by_email: bool, by_phone: bool, rows: int):
    """Leads (with their organization) whose email or phone is the one bound, at most ``rows``:
    one query for both, read through the email and phone indexes. Trashed leads are left out by
    the caller, not in SQL: with ``deleted_at IS NULL`` beside the OR, SQLite walks the index on
    deleted_at over every live lead instead (70 ms instead of 1 at 100,000 leads)."""
    key = (by_email, by_phone, rows)
    statement = _EXACT.get(key)
    if statement is None:
        # A lead whose email was parked beside an older lead's (``Lead.shared_email_key``) is a
        # "same email" match too.
        exact = ([Lead.email_key == bindparam("email_key"), Lead.shared_email_key == bindparam("email_key")]
                 if by_email else []) + ([Lead.phone == bindparam("phone")] if by_phone else [])
        statement = _EXACT[key] = (db.select(Lead).options(joinedload(Lead.organization)).where(or_(*exact))
                                   .limit(rows))
    return statement


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

    if email_key or phone:
        exact = db.session.scalars(_exact_statement(bool(email_key), bool(phone), 4 * limit + 1),
                                   {"email_key": email_key, "phone": phone})
        for lead in sorted(exact, key=lambda lead: lead.id):
            if lead.deleted_at is not None:
                continue
            if email_key and email_key in (lead.email_key, lead.shared_email_key):
                add(lead, "same email")
            if phone and lead.phone == phone:
                add(lead, "same phone")
    name = _full_name(first_name, last_name)
    if organization_id and name:
        rows = db.session.execute(_NAMES_AT_ORGANIZATION, {"organization_id": organization_id})
        similar = [row.id for row in rows if row.id != exclude_id
                   and fuzz.token_sort_ratio(name, _full_name(row.first_name, row.last_name)) >= NAME_SIMILARITY]
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
