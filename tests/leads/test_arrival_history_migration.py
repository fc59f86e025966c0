"""Going back past migration ``8d3b6f1a2c57`` (a new lead's first history rides on its arrival
row) drops the column that holds it: a first history still queued is written first, the rows
the sweep would have written, without the migration calling the app's code (which moves on)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from leadflow.extensions import db
from leadflow.leads import store
from leadflow.leads.store import first_history, first_history_rows
from leadflow.pipeline.services import ensure_default_pipeline

from .. import factories

BEFORE = "8c2e4a6f1b37"


def _rows(conn, lead_id: int) -> dict:
    def read(sql):
        return [tuple(row) for row in conn.execute(text(sql), {"id": lead_id})]

    return {
        "stage_changes": read("SELECT from_stage_id, to_stage_id, actor_id FROM stage_changes WHERE lead_id = :id"),
        "lifecycle_changes": read("SELECT from_lifecycle, to_lifecycle, actor_id FROM lifecycle_changes "
                                  "WHERE lead_id = :id"),
        "entries": read("SELECT kind, actor_id, subject, details FROM activities WHERE lead_id = :id ORDER BY id"),
        "audit": read("SELECT actor_id, actor_name, action, new_value FROM audit_entries "
                      "WHERE entity_type = 'lead' AND entity_id = :id"),
        "times": sorted({str(at)[:19] for (at,) in conn.execute(text(
            "SELECT at FROM stage_changes WHERE lead_id = :id UNION SELECT at FROM lifecycle_changes WHERE lead_id = :id "
            "UNION SELECT occurred_at FROM activities WHERE lead_id = :id UNION SELECT at FROM audit_entries "
            "WHERE entity_type = 'lead' AND entity_id = :id"), {"id": lead_id})}),
    }


def test_going_back_writes_each_queued_first_history_as_the_sweep_would(database_url, tmp_path, monkeypatch):
    from config import TestConfig
    from leadflow import create_app

    postgres = database_url.startswith("postgresql")
    url = database_url if postgres else f"sqlite:///{tmp_path / 'queued.sqlite3'}"
    app = create_app(type("QueuedHistories", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url}))
    created = datetime(2026, 11, 30, 9, 15, tzinfo=timezone.utc)
    submitted = created - timedelta(minutes=3)
    with app.app_context():
        upgrade()
        try:
            stage_id = ensure_default_pipeline().stages[0].id
            user_id = factories.make_user(role="admin").id
            db.session.commit()
            with db.engine.begin() as conn:
                lead_id = factories.insert_raw_lead(conn, "Queued", "queued@example.com")
                history = first_history(
                    {"stage_id": stage_id, "first_name": "Queued", "last_name": "Lead"}, user_id, created,
                    owner="Rita Rep", audit_by="Ada Admin",
                    entries=[{"kind": "form_submission", "actor_id": None, "subject": "Submitted Form “Contact”",
                              "occurred_at": submitted, "details": {"form": "Contact"}}])
                conn.execute(text("INSERT INTO lead_arrivals (lead_id, channel, history, created_at) "
                                  "VALUES (:lead, 'capture', :history, :at)"),
                             {"lead": lead_id, "history": json.dumps(history), "at": created.replace(tzinfo=None)})
                before = _rows(conn, lead_id)
            expected = first_history_rows([(lead_id, created, history)], stages={stage_id}, users={user_id})
            # The app's code for it may be gone or changed by the time someone goes back.
            monkeypatch.setattr(store, "first_history_rows", None)
            downgrade(revision=BEFORE)
            with db.engine.connect() as conn:
                written = _rows(conn, lead_id)
            assert before == {"stage_changes": [], "lifecycle_changes": [], "entries": [], "audit": [], "times": []}
            assert written["stage_changes"] == [(None, stage_id, user_id)] == [
                (r["from_stage_id"], r["to_stage_id"], r["actor_id"]) for r in expected.stage_changes]
            assert written["lifecycle_changes"] == [(None, "lead", user_id)]
            assert [(kind, actor, subject) for kind, actor, subject, _ in written["entries"]] == [
                (r["kind"], r["actor_id"], r["subject"]) for r in expected.activities] == [
                ("assignment", user_id, "Assigned to Rita Rep"), ("system", user_id, "Lead created"),
                ("form_submission", None, "Submitted Form “Contact”")]
            assert written["audit"] == [(user_id, "Ada Admin", "create", "Queued Lead")]
            # Every row at the create's time, the submission at its own.
            assert written["times"] == sorted({f"{submitted:%Y-%m-%d %H:%M:%S}", f"{created:%Y-%m-%d %H:%M:%S}"})
        finally:
            upgrade()
            db.session.remove()
            with db.engine.begin() as conn:
                for table in ("audit_entries", "leads", "users", "stages", "pipelines"):
                    conn.execute(text(f"DELETE FROM {table}"))
            db.engine.dispose()
