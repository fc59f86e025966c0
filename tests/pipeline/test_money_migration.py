"""The upgrade that brings money totals per currency, on a database that already has leads in
several currencies and the old stage totals (which added them all together): the per-currency
totals are counted from the leads, the board converts them, and the downgrade goes back.

Runs on a database of its own of the kind the suite uses (a SQLite file, or a scratch
PostgreSQL database next to the test one)."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from config import TestConfig
from leadflow import create_app
from leadflow.extensions import db

from tests import factories
from tests.databases import scratch_database_url

BEFORE = "3e5a9c1d7b20"

# stage, currency, value in cents (None: no value), trashed
LEADS = [
    (1, "USD", 100000, False), (1, "EUR", 250000, False), (1, "EUR", None, False), (1, "GBP", 5000, True),
    (2, "GBP", 33333, False), (2, "USD", 1, False), (None, "EUR", 999, False),
]


@pytest.fixture
def old_database_url(tmp_path, database_url):
    with scratch_database_url(tmp_path, database_url, "money_migration") as url:
        yield url


def _seed(conn) -> None:
    conn.execute(text("INSERT INTO pipelines (id, name, position, is_default, created_at) "
                      "VALUES (1, 'Sales', 0, :yes, CURRENT_TIMESTAMP)"), {"yes": True})
    for stage_id, name in ((1, "New"), (2, "Won")):
        conn.execute(text("INSERT INTO stages (id, pipeline_id, name, position, probability, kind) "
                          "VALUES (:id, 1, :name, :id, 50, 'open')"), {"id": stage_id, "name": name})
    for n, (stage_id, currency, cents, trashed) in enumerate(LEADS):
        lead_id = factories.insert_raw_lead(conn, f"M{n}", deleted="2026-01-01 00:00:00" if trashed else None)
        conn.execute(text("UPDATE leads SET pipeline_id = :pipeline, stage_id = :stage, currency = :currency, "
                          "value_cents = :cents WHERE id = :id"),
                     {"pipeline": 1 if stage_id else None, "stage": stage_id, "currency": currency, "cents": cents,
                      "id": lead_id})
    # The totals as the old code kept them: every currency added together.
    conn.execute(text("INSERT INTO stage_totals (stage_id, lead_count, value_cents) VALUES (1, 3, 350000), (2, 2, 33334)"))


def test_upgrade_counts_each_stage_per_currency_from_the_leads(old_database_url):
    config = type("OldDatabase", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": old_database_url})
    old = create_app(config)
    with old.app_context():
        upgrade(revision=BEFORE)
        _seed(db.session)
        db.session.commit()

        upgrade()
        with db.engine.begin() as conn:
            money = {(s, c): (n, v, cents) for s, c, n, v, cents in conn.execute(text(
                "SELECT stage_id, currency, lead_count, value_count, value_cents FROM stage_currency_totals"))}
            kept = dict(conn.execute(text("SELECT stage_id, lead_count FROM stage_totals")).tuples().all())
        assert money == {(1, "USD"): (1, 1, 100000), (1, "EUR"): (2, 1, 250000),
                         (2, "GBP"): (1, 1, 33333), (2, "USD"): (1, 1, 1)}, \
            "live staged leads only, per currency; a lead without a value counts but adds nothing"
        assert kept == {1: 3, 2: 2}, "the per-stage counts are left as they were"

        from leadflow.governance.money import current_rates
        from leadflow.pipeline.board import BoardFilters, stage_totals
        from leadflow.pipeline.models import Stage

        stages = list(db.session.scalars(db.select(Stage).order_by(Stage.id)))
        totals = stage_totals(stages, BoardFilters(), None, current_rates())
        count, total = totals[1]
        assert count == 3 and total.cents == 100000 and [(u.currency, u.cents) for u in total.unconverted] == [
            ("EUR", 250000)], "no rate yet: the euros are shown apart, not added to the dollars"
        db.session.rollback()

        downgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            tables = set(db.inspect(conn).get_table_names())
        assert "stage_currency_totals" not in tables and "exchange_rates" not in tables
        upgrade()
        db.session.remove()
        db.engine.dispose()
