"""The upgrade that makes live organization names unique, on a database that already holds
live organizations sharing a name: they are merged into the oldest, losing nothing.

Runs on a database of its own of the kind the suite uses (a SQLite file, or a scratch
PostgreSQL database next to the test one)."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from config import TestConfig
from leadflow import create_app
from leadflow.extensions import db

from tests import factories
from tests.databases import scratch_database_url

BEFORE = "faacf2c25cd1"


@pytest.fixture
def old_database_url(tmp_path, database_url):
    with scratch_database_url(tmp_path, database_url, "names_migration") as url:
        yield url


ORGS = [  # id, name, name_key, domain, industry, territory, trashed
    (1, "Acme Rockets", "acme rockets", None, None, None, False),
    (2, "ACME Rockets", "acme rockets", "acme.example", "Aerospace", None, False),
    (3, "Acme rockets", "acme rockets", "old.example", None, None, True),
    (4, "Acme Rockets", "acme rockets", "acme.test", None, "EMEA", False),
    (5, "Globex", "globex", None, None, None, False),
]


def _seed(conn) -> dict[int, int]:
    """The organizations above, and a lead at each: {organization id: lead id}."""
    for org_id, name, key, domain, industry, territory, trashed in ORGS:
        conn.execute(text(
            "INSERT INTO organizations (id, name, name_key, domain, industry, territory, created_at, updated_at, "
            "deleted_at, version) VALUES (:id, :name, :key, :domain, :industry, :territory, CURRENT_TIMESTAMP, "
            f"CURRENT_TIMESTAMP, {'CURRENT_TIMESTAMP' if trashed else 'NULL'}, 1)"),
            {"id": org_id, "name": name, "key": key, "domain": domain, "industry": industry, "territory": territory})
    leads = {}
    for org_id, *_ in ORGS:
        lead_id = factories.insert_raw_lead(conn, f"At{org_id}")
        conn.execute(text("UPDATE leads SET organization_id = :org WHERE id = :id"), {"org": org_id, "id": lead_id})
        leads[org_id] = lead_id
    return leads


def test_live_organizations_sharing_a_name_are_merged_into_the_oldest(old_database_url):
    config = type("OldDatabase", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": old_database_url})
    old = create_app(config)
    with old.app_context():
        upgrade(revision=BEFORE)
        leads = _seed(db.session)
        db.session.commit()

        upgrade()
        with db.engine.begin() as conn:
            orgs = {row.id: row for row in conn.execute(text("SELECT * FROM organizations"))}
            lead_orgs = dict(conn.execute(text("SELECT id, organization_id FROM leads")).tuples().all())
            history = conn.execute(text(
                "SELECT entity_id, action, field, new_value, actor_name FROM audit_entries "
                "WHERE entity_type = 'organization' ORDER BY id")).all()
        live = sorted(org_id for org_id, org in orgs.items() if org.deleted_at is None)
        assert live == [1, 5], "one live Acme Rockets (the oldest), Globex untouched"
        assert [lead_orgs[leads[org_id]] for org_id in (1, 2, 3, 4, 5)] == [1, 1, 3, 1, 5], \
            "the merged ones' leads moved to the oldest; the lead of an organization trashed before stays"
        survivor = orgs[1]
        assert (survivor.domain, survivor.industry, survivor.territory) == ("acme.example", "Aerospace", "EMEA"), \
            "the oldest takes the details it lacked, from the next oldest that has them"
        assert (orgs[2].domain, orgs[4].territory) == ("acme.example", "EMEA"), "the trashed ones keep their values"
        assert {(entity, action, field) for entity, action, field, _, _ in history} == {
            (2, "merge", None), (4, "merge", None), (1, "merge", None),
            (1, "update", "domain"), (1, "update", "industry"), (1, "update", "territory")}
        assert all(actor == "LeadFlow upgrade" for *_, actor in history)
        merged_into = [value for entity, action, _, value, _ in history if entity == 2]
        assert merged_into == ["into organization #1 “Acme Rockets”, which has the same name: its 1 lead(s) "
                               "moved there and this one went to the trash"]

        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            conn.execute(text("INSERT INTO organizations (id, name, name_key, version) "
                              "VALUES (9, 'acme rockets', 'acme rockets', 1)"))
        downgrade(revision=BEFORE)
        upgrade()
        db.session.remove()
        db.engine.dispose()
