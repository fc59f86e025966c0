"""The context of each sequences screen."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import bindparam, exists, func, select

from leadflow.db import Rows
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.leads.policy import editable_leads_clause
from leadflow.sequences.models import (
    ENROLLMENT_STATES, EXIT_REASONS, STEP_KIND_LABELS, WAIT_UNITS, EmailTemplate, Enrollment, Sequence,
    SequenceMessage,
)
from leadflow.sequences.templates import MERGE_FIELDS
from leadflow.web import refcache

ENROLMENT_PAGE = 200


def sequences_list() -> list[tuple[Sequence, int, int]]:
    """Each sequence with its number of steps and of active enrolments."""
    active = (select(Enrollment.sequence_id, func.count().label("n")).where(Enrollment.state == "active")
              .group_by(Enrollment.sequence_id).subquery())
    rows = db.session.execute(select(Sequence, func.coalesce(active.c.n, 0))
                              .outerjoin(active, active.c.sequence_id == Sequence.id).order_by(Sequence.name)).all()
    return [(sequence, len(sequence.steps), count) for sequence, count in rows]


def templates_list() -> list[EmailTemplate]:
    return list(db.session.scalars(select(EmailTemplate).order_by(EmailTemplate.name)))


def editor_context(sequence: Sequence, state: str | None = None) -> dict:
    query = (select(Enrollment).where(Enrollment.sequence_id == sequence.id)
             .order_by(Enrollment.enrolled_at.desc()).limit(ENROLMENT_PAGE))
    if state in ENROLLMENT_STATES:
        query = query.where(Enrollment.state == state)
    counts = dict(db.session.execute(select(Enrollment.state, func.count()).where(Enrollment.sequence_id == sequence.id)
                                     .group_by(Enrollment.state)).all())
    sent, opened, clicked = db.session.execute(
        select(func.count(SequenceMessage.id), func.count(SequenceMessage.opened_at), func.count(SequenceMessage.clicked_at))
        .join(Enrollment, Enrollment.id == SequenceMessage.enrollment_id)
        .where(Enrollment.sequence_id == sequence.id)).one()
    return {"stats": {"sent": sent, "opened": opened, "clicked": clicked},
            "sequence": sequence, "steps": list(sequence.steps), "templates": templates_list(),
            "enrollments": list(db.session.scalars(query)), "state": state, "counts": counts,
            "step_kinds": STEP_KIND_LABELS, "wait_units": WAIT_UNITS, "exit_reasons": EXIT_REASONS}


def preview_leads(viewer, limit: int = 50) -> list[Lead]:
    """Leads to preview a template against: the most recent the viewer may edit."""
    return list(db.session.scalars(select(Lead).where(Lead.deleted_at.is_(None), editable_leads_clause(viewer))
                                   .order_by(Lead.created_at.desc(), Lead.id.desc()).limit(limit)))


def template_editor_context(template: EmailTemplate | None, values: dict, viewer, errors: dict | None = None,
                            preview=None) -> dict:
    return {"email_template": template, "values": values, "errors": errors or {}, "merge_fields": MERGE_FIELDS,
            "leads": preview_leads(viewer), "preview": preview}


# A lead's latest enrolments, each with its sequence (the panel shows its name). Value: lead_id.
LEAD_ENROLLMENTS = Rows(Enrollment, (Enrollment.lead_id == bindparam("lead_id"),),
                        lambda enrollment: (enrollment.enrolled_at.desc(),), 20, joined=("sequence",))


def sequence_panel(enrollments: list[Enrollment]) -> dict:
    """What the lead page shows: the lead's enrolments (``LEAD_ENROLLMENTS``) and the sequences
    it can join."""
    active_ids = {e.sequence_id for e in enrollments if e.state == "active"}
    available = [s for s in active_sequences() if s.id not in active_ids]
    return {"enrollments": enrollments, "available_sequences": available}


class SequenceChoice(NamedTuple):
    id: int
    name: str


def active_sequences() -> tuple[SequenceChoice, ...]:
    """The sequences that take enrolments, by name (kept for the process, ``refcache``)."""
    return refcache.cached(("sequences",), "active sequences", lambda: tuple(
        SequenceChoice(*r) for r in db.session.execute(
            select(Sequence.id, Sequence.name).where(Sequence.active.is_(True)).order_by(Sequence.name, Sequence.id))))


def sequence_exits() -> tuple[bool, bool]:
    """Whether any sequence (active or paused: its enrolments may still be active) ends a lead's
    enrolment when the lead changes stage, and when it is won or lost (kept for the process,
    ``refcache``): a move no sequence exits on looks up no enrolment."""
    return refcache.cached(("sequences",), "sequence exits", lambda: tuple(bool(flag) for flag in db.session.execute(
        select(exists().where(Sequence.exit_on_stage_change.is_(True)),
               exists().where(Sequence.exit_on_won_lost.is_(True)))).one()))
