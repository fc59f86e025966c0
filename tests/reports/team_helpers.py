"""Hand-made data for the team reports' tests: leads with the times and fields a test names,
stage moves at given times, activities and tasks, all written as a fixture would."""

from __future__ import annotations

from datetime import datetime, timezone

from leadflow.activities.models import Activity, Task
from leadflow.extensions import db
from leadflow.leads import store
from leadflow.leads.models import Lead, LifecycleChange
from leadflow.pipeline.models import Stage
from leadflow.pipeline.services import ensure_default_pipeline

from tests.factories import TEST_SETUP, make_lead

UTC = timezone.utc
# A fortnight starting on a Monday; the period is [START, END).
START = datetime(2030, 3, 4, tzinfo=UTC)
END = datetime(2030, 3, 18, tzinfo=UTC)


def at(day: int, hour: int = 10, minute: int = 0, second: int = 0, month: int = 3) -> datetime:
    return datetime(2030, month, day, hour, minute, second, tzinfo=UTC)


def live_lead_ids():
    return db.select(Lead.id).where(Lead.deleted_at.is_(None))


def lead(created: datetime, **columns) -> Lead:
    """A lead created through the service, then given ``created`` and ``columns`` as they
    would stand after its history (owner, source, first response, reasons…)."""
    made = make_lead()
    db.session.execute(db.update(Lead).where(Lead.id == made.id).values(created_at=created, **columns))
    db.session.refresh(made)
    return made


def trash(*leads: Lead) -> None:
    store.trash_leads([lead.id for lead in leads], TEST_SETUP)


def stage(name: str) -> Stage:
    pipeline = ensure_default_pipeline()
    return db.session.scalar(db.select(Stage).where(Stage.pipeline_id == pipeline.id, Stage.name == name))


def move(lead: Lead, stage_name: str, when: datetime) -> None:
    store.move_leads([lead.id], stage(stage_name), TEST_SETUP, at=when)


def activity(lead: Lead, kind: str, when: datetime, actor=None) -> Activity:
    entry = Activity(lead_id=lead.id, kind=kind, occurred_at=when, actor_id=getattr(actor, "id", None),
                     subject=kind)
    db.session.add(entry)
    db.session.flush()
    return entry


def task(lead: Lead, due: datetime, assignee=None, done: datetime | None = None, done_by=None) -> Task:
    item = Task(lead_id=lead.id, title="Follow up", due_at=due, assignee_id=getattr(assignee, "id", None),
                done_at=done, done_by_id=getattr(done_by, "id", None))
    db.session.add(item)
    db.session.flush()
    return item


def disqualify(lead: Lead, when: datetime, reason: str | None = None, *, requalified: datetime | None = None) -> None:
    """The lead disqualified at ``when`` for ``reason`` (and, with ``requalified``, back to "lead" then)."""
    db.session.add(LifecycleChange(lead_id=lead.id, from_lifecycle="lead", to_lifecycle="disqualified", at=when))
    if requalified:
        db.session.add(LifecycleChange(lead_id=lead.id, from_lifecycle="disqualified", to_lifecycle="lead",
                                       at=requalified))
    db.session.execute(db.update(Lead).where(Lead.id == lead.id).values(
        lifecycle="lead" if requalified else "disqualified", disqualified_reason=reason))
    db.session.flush()
