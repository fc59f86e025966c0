"""Factory functions that build valid records with sensible defaults; tests override fields."""

from __future__ import annotations

import itertools

from leadflow.accounts.services import hash_password
from leadflow.accounts.models import User
from leadflow.accounts.system import system_actor
from leadflow.extensions import db
from leadflow.leads import services as lead_services
from leadflow.leads.models import Lead, Organization
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
