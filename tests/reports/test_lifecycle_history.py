"""Every way a lead's lifecycle changes leaves a row in ``lifecycle_changes`` (the funnel
reads how far a lead ever got from them); the migration gives existing leads one row each."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from config import TestConfig
from leadflow import create_app
from leadflow.extensions import db
from leadflow.leads import services as lead_services
from leadflow.leads import store
from leadflow.leads.models import LifecycleChange
from leadflow.pipeline.models import Stage

from tests import factories
from tests.databases import scratch_database_url


def history(lead_id: int) -> list[tuple]:
    return db.session.execute(db.select(LifecycleChange.from_lifecycle, LifecycleChange.to_lifecycle,
                                        LifecycleChange.actor_id)
                              .where(LifecycleChange.lead_id == lead_id).order_by(LifecycleChange.id)).all()


def _won_stage() -> Stage:
    return db.session.scalar(db.select(Stage).where(Stage.kind == "won"))


def test_a_new_lead_starts_its_history_and_an_edit_adds_to_it(app, make_user, make_lead):
    manager = make_user("manager")
    lead = make_lead(actor=manager, lifecycle="mql")
    assert history(lead.id) == [(None, "mql", manager.id)]
    lead_services.update_lead(manager, lead, {"lifecycle": "sql"})
    lead_services.update_lead(manager, lead, {"first_name": "Renamed"})  # no lifecycle change: no row
    assert history(lead.id) == [(None, "mql", manager.id), ("mql", "sql", manager.id)]


def test_a_won_stage_makes_a_customer_whichever_way_the_lead_gets_there(app, make_user, make_lead):
    manager = make_user("manager")
    one, many, already = make_lead(actor=manager), make_lead(actor=manager), make_lead(actor=manager, lifecycle="customer")
    lead_services.update_lead(manager, one, {"stage_id": _won_stage().id})
    store.move_leads([many.id, already.id], _won_stage(), manager)
    assert history(one.id)[-1] == ("lead", "customer", manager.id)
    assert history(many.id)[-1] == ("lead", "customer", manager.id)
    assert history(already.id) == [(None, "customer", manager.id)], "a customer stays one: no row"


def test_system_changes_are_kept_too(app, make_lead):
    first, second = make_lead(), make_lead()
    store.update_columns([first.id, second.id], {"lifecycle": "opportunity"}, None)
    store.update_rows([{"id": first.id, "lifecycle": "disqualified"}, {"id": second.id, "lifecycle": "opportunity"}])
    assert [row[:2] for row in history(first.id)] == [(None, "lead"), ("lead", "opportunity"), ("opportunity", "disqualified")]
    assert [row[:2] for row in history(second.id)] == [(None, "lead"), ("lead", "opportunity")]


@pytest.fixture
def old_database_url(tmp_path, database_url):
    with scratch_database_url(tmp_path, database_url, "lifecycle_migration") as url:
        yield url


def test_the_migration_gives_each_existing_lead_its_lifecycle_at_its_creation(old_database_url):
    config = type("OldDatabase", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": old_database_url})
    old = create_app(config)
    with old.app_context():
        upgrade(revision="0a7c3e5f9b21")
        live = factories.insert_raw_lead(db.session, "Live")
        trashed = factories.insert_raw_lead(db.session, "Trashed", deleted=factories.utcnow())
        db.session.execute(text("UPDATE leads SET lifecycle = 'sql' WHERE id = :id"), {"id": live})
        db.session.commit()
        upgrade()
        rows = db.session.execute(text(
            "SELECT c.lead_id, c.from_lifecycle, c.to_lifecycle, c.actor_id, c.at = l.created_at "
            "FROM lifecycle_changes c JOIN leads l ON l.id = c.lead_id ORDER BY c.lead_id")).tuples().all()
        assert [row[:4] for row in rows] == [(live, None, "sql", None), (trashed, None, "lead", None)]
        assert all(row[4] for row in rows)
        db.session.remove()
        db.engine.dispose()
