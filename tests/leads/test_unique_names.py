"""One live organization per name and one tag per name, kept by the database: requests that
add the same new organization or tag at the same moment all succeed and share one row.

The thread tests give each thread its own session and connection, as concurrent requests
have. On PostgreSQL (READ COMMITTED) a find-then-insert let every one of them insert; SQLite
lets one writer in at a time, so there the database-level tests are the ones that matter.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy.exc import IntegrityError

from leadflow.extensions import db
from leadflow.leads.models import Tag
from leadflow.leads.services import resolve_tags
from leadflow.organizations import services as organizations_service
from leadflow.organizations.models import Organization
from leadflow.organizations.names import find_or_create_organization

from tests.concurrency import run_together

THREADS = 20


def _live_orgs(name_key: str) -> list[Organization]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(Organization).where(
        Organization.name_key == name_key, Organization.deleted_at.is_(None))))


def test_the_database_refuses_a_second_live_organization_with_the_same_name(app, make_org):
    make_org("Acme Rockets")
    db.session.commit()
    db.session.add(Organization(name="ACME rockets", name_key="acme rockets"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    assert len(_live_orgs("acme rockets")) == 1


def test_trashed_organizations_may_share_a_live_ones_name(app, make_org):
    now = datetime.now(timezone.utc)
    make_org("Acme Rockets", deleted_at=now)
    make_org("Acme Rockets", deleted_at=now)
    make_org("Acme Rockets")
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count(Organization.id))) == 3


def test_find_or_create_organization_returns_the_live_one_whatever_the_spelling(app, make_org):
    trashed = make_org("Acme Rockets", deleted_at=datetime.now(timezone.utc))
    first = find_or_create_organization("  Acme   Rockets ")
    assert first.id != trashed.id and first.name == "Acme Rockets" and first.version == 1
    assert find_or_create_organization("ACME ROCKETS").id == first.id
    assert len(_live_orgs("acme rockets")) == 1


@pytest.mark.real_commits  # threads, each on its own connection
def test_twenty_requests_adding_the_same_new_organization_get_one(app):
    def add(_i):
        org_id = find_or_create_organization("Nimbus Labs").id
        db.session.commit()
        return org_id

    ids = run_together(app, THREADS, add)
    live = _live_orgs("nimbus labs")
    assert len(live) == 1, f"{len(live)} organizations called Nimbus Labs"
    assert set(ids) == {live[0].id}


@pytest.mark.real_commits  # threads, each on its own connection
def test_twenty_requests_adding_the_same_new_tags_get_one_of_each(app):
    def add(_i):
        ids = [tag.id for tag in resolve_tags(["Hot lead", "Webinar 2026"])]
        db.session.commit()
        return tuple(ids)

    results = run_together(app, THREADS, add)
    db.session.expire_all()
    tags = {t.name_key: t.id for t in db.session.scalars(db.select(Tag))}
    assert sorted(tags) == ["hot lead", "webinar 2026"]
    assert set(results) == {(tags["hot lead"], tags["webinar 2026"])}


def test_resolve_tags_keeps_the_order_and_the_first_spelling(app):
    [old] = resolve_tags(["VIP"])
    tags = resolve_tags(["new one", "vip", "Another"])
    assert [t.name for t in tags] == ["new one", "VIP", "Another"] and tags[1].id == old.id


# --- the name check passed, then a concurrent request took the name ----------------------

def _name_check_races(monkeypatch):
    """The first name check says the name is free, as it would when the other request had not
    committed yet; the database then refuses the duplicate and the request runs again."""
    real, calls = organizations_service._live_name_taken, []

    def racing(*args, **kwargs):
        calls.append(args)
        return False if len(calls) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(organizations_service, "_live_name_taken", racing)
    return calls


def test_creating_an_organization_whose_name_was_just_taken_is_a_form_error(login_as, make_org, monkeypatch):
    make_org("Acme Rockets")
    db.session.commit()
    _, client = login_as("manager")
    calls = _name_check_races(monkeypatch)
    response = client.post("/organizations/new", data={"name": "acme rockets"})
    assert response.status_code == 422
    assert "An organization with this name already exists." in response.text
    assert len(calls) == 2 and len(_live_orgs("acme rockets")) == 1


def test_renaming_to_a_name_just_taken_is_a_form_error(login_as, make_org, monkeypatch):
    make_org("Acme Rockets")
    other = make_org("Globex")
    db.session.commit()
    _, client = login_as("manager")
    calls = _name_check_races(monkeypatch)
    response = client.post(f"/organizations/{other.id}/edit", data={"name": "Acme Rockets", "version": other.version})
    assert response.status_code == 422
    assert "Another organization already has this name." in response.text
    assert len(calls) == 2 and len(_live_orgs("acme rockets")) == 1
    assert _live_orgs("globex")[0].id == other.id


def test_restoring_an_organization_whose_name_was_just_taken_says_why(login_as, make_org, monkeypatch):
    trashed = make_org("Acme Rockets", deleted_at=datetime.now(timezone.utc))
    make_org("Acme Rockets")
    db.session.commit()
    _, client = login_as("manager")
    calls = _name_check_races(monkeypatch)
    response = client.post(f"/organizations/{trashed.id}/restore")
    assert response.status_code == 409
    assert "Another organization is already called" in response.text
    assert len(calls) == 2 and len(_live_orgs("acme rockets")) == 1
