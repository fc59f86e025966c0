"""Rows written together: ``insert_all`` calls inside ``inserts_together`` (a new lead's history,
timeline entries, audit entry and arrival) reach PostgreSQL in one statement, and nothing reads
the database without them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from leadflow.activities.models import Activity
from leadflow.db import insert_all, inserts_together, utcnow
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.pipeline.models import StageChange


def _entry(lead_id: int, subject: str) -> dict:
    at = utcnow()
    return {"lead_id": lead_id, "kind": "system", "actor_id": None, "subject": subject, "occurred_at": at,
            "created_at": at}


def _subjects(lead_id: int) -> list[str]:
    """The lead's timeline entries the test wrote (not its "Lead created")."""
    return list(db.session.scalars(select(Activity.subject).where(
        Activity.lead_id == lead_id, Activity.subject != "Lead created").order_by(Activity.id)))


def _stage_changes_out(lead_id: int) -> list:
    """When the lead's stage changes to no stage (the test's) were recorded."""
    return db.session.scalars(select(StageChange.at).where(StageChange.lead_id == lead_id,
                                                             StageChange.to_stage_id.is_(None))).all()


def test_the_rows_of_several_tables_are_written_together_in_one_statement(make_lead, count_queries):
    lead = make_lead()
    with count_queries() as statements, inserts_together():
        insert_all(Activity.__table__, [_entry(lead.id, "One"), _entry(lead.id, "Two")])
        insert_all(StageChange.__table__, [{"lead_id": lead.id, "from_stage_id": None, "to_stage_id": None,
                                             "actor_id": None, "at": utcnow()}])
    assert len(statements) == (1 if db.engine.dialect.name == "postgresql" else 2)
    assert _subjects(lead.id) == ["One", "Two"]
    assert len(_stage_changes_out(lead.id)) == 1


def test_a_statement_run_inside_the_block_reads_the_rows_held_before_it(make_lead):
    lead = make_lead()
    with inserts_together():
        insert_all(Activity.__table__, [_entry(lead.id, "Held")])
        seen = _subjects(lead.id)
        insert_all(Activity.__table__, [_entry(lead.id, "After")])
    assert seen == ["Held"]
    assert _subjects(lead.id) == ["Held", "After"]


def test_an_error_inside_the_block_writes_nothing_it_held(make_lead):
    lead = make_lead()
    with pytest.raises(RuntimeError), inserts_together():
        insert_all(Activity.__table__, [_entry(lead.id, "Never")])
        raise RuntimeError("the create failed")
    if db.engine.dialect.name == "postgresql":  # SQLite wrote it at once: its transaction takes it back
        assert _subjects(lead.id) == []


def test_columns_left_out_take_their_defaults_even_when_two_tables_of_the_statement_share_the_name(make_lead):
    """``at`` left out of a stage change and an audit entry written together: both get the time."""
    lead = make_lead()
    with inserts_together():
        insert_all(StageChange.__table__, [{"lead_id": lead.id, "to_stage_id": None}])
        insert_all(AuditEntry.__table__, [{"actor_name": "System", "entity_type": "lead", "entity_id": lead.id,
                                           "action": "create"} for _ in range(2)])
    changed = _stage_changes_out(lead.id)
    audited = db.session.scalars(select(AuditEntry.at).where(AuditEntry.entity_id == lead.id,
                                                             AuditEntry.actor_name == "System")).all()
    assert len(changed) == 1 and len(audited) == 2
    assert all(at is not None for at in changed + audited)
