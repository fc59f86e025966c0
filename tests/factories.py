"""Factory functions that build valid records with sensible defaults; tests override fields."""

from __future__ import annotations

import itertools

from sqlalchemy import text

from leadflow.accounts.models import User
from leadflow.accounts.services import hash_password
from leadflow.accounts.system import system_actor
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads import services as lead_services
from leadflow.leads.models import Lead
from leadflow.organizations.models import Organization
from leadflow.pipeline.services import ensure_default_pipeline

_seq = itertools.count(1)
PASSWORD = "correct horse battery staple"
TEST_SETUP = system_actor("Test setup")  # who made what a test makes without saying who


def make_user(role: str = "rep", **fields) -> User:
    n = next(_seq)
    user = User(
        email=fields.pop("email", f"user{n}@example.com"),
        name=fields.pop("name", f"{role.title()} User{n}"),
        password_hash=hash_password(fields.pop("password", PASSWORD)),
        role=role,
        **fields,
    )
    db.session.add(user)
    db.session.flush()
    return user


def make_org(name: str | None = None, **fields) -> Organization:
    name = name or f"Company {next(_seq)}"
    org = Organization(name=name, name_key=name.lower(), **fields)
    db.session.add(org)
    db.session.flush()
    return org


def make_lead(actor=None, channel: str = "manual", **fields) -> Lead:
    """A lead created through the service, as a user would create it (or, with ``channel``,
    as it would arrive from a form or the API)."""
    ensure_default_pipeline()
    n = next(_seq)
    data = {"first_name": f"Lead{n}", "last_name": "Example", "email": f"lead{n}@example.com"}
    data.update(fields)
    lead = lead_services.create_lead(actor or TEST_SETUP, data, region="US", channel=channel)
    db.session.flush()
    return lead


def make_lead_sharing_email(email: str, actor=None, **fields) -> Lead:
    """A live lead with the email of an older live lead, as the migration that made emails
    unique leaves one made before: it keeps its email as typed, the older lead holds the key,
    and its own key waits in ``shared_email_key`` (the duplicates queue pairs the two)."""
    from leadflow.leads.fields import normalise_email, search_text_for

    lead = make_lead(actor, **fields)
    lead.email, key = normalise_email(email)
    lead.email_key, lead.shared_email_key = None, key
    lead.search_text = search_text_for(lead.first_name, lead.last_name, lead.email, lead.phone,
                                       lead.organization.name if lead.organization else None)
    db.session.flush()
    return lead


# A lead row as an older schema knows it, written in plain SQL: for migration tests, which
# run at revisions the models (and the lead store's ON CONFLICT) are ahead of.
RAW_LEAD_SQL = ("INSERT INTO leads (first_name, last_name, email, email_key, lifecycle, temperature, score, "
                "currency, marketing_consent, created_at, updated_at, search_text, board_rank, version, deleted_at) "
                "VALUES (:name, '', :email, :key, 'lead', 'cold', 0, 'USD', :no, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP, '', 0, 1, :deleted) RETURNING id")


def insert_raw_lead(conn, name: str, email: str | None = None, deleted=None) -> int:
    return conn.execute(text(RAW_LEAD_SQL), {"name": name, "email": email, "key": email.lower() if email else None,
                                             "no": False, "deleted": deleted}).scalar_one()


def insert_lead_in_plain_sql() -> None:
    """Lead "Cy Bulk" (cy@bulk.example) written with plain SQL, past the ORM and the lead
    store's guard (whose scan allows tests), as a bulk writer would: what database triggers
    keep (the search table, its index) must follow."""
    db.session.execute(text(
        "INSERT INTO leads (first_name, last_name, search_text, lifecycle, temperature, score, currency, "
        "marketing_consent, board_rank, version, created_at, updated_at) "
        "VALUES ('Cy', 'Bulk', 'cy bulk cy@bulk.example', 'lead', 'cold', 0, 'USD', false, 0, 1, :now, :now)"),
        {"now": utcnow()})

