"""A lead's stays in stages, read from its stage history (``stage_changes``).

A stay runs from entering a stage to the lead's next change. Each change ends one stay: the
one in its ``from`` stage, which began at the lead's change before it — or at ``created_at``
when there is none (a lead created in a stage may have no change entering it: an older row, a
fast import). The stay still going is the lead's current stage, entered at ``stage_entered_at``
(the lead store writes it with every move, from the same moment as the move's history row;
``created_at`` when it was never moved).

These are the questions the reports ask of them, each a query that reads only the rows it
needs (not a window over every lead's whole history):

- ``ended_stays``: the stays that ended in a window of time;
- ``current_stays``: the stays still going;
- ``open_at``: how many leads were in an open stage at given moments, counted back from now
  through the changes since.

``days_between`` is the one way a report turns two moments into days (fractional), on SQLite
and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, case, exists, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from leadflow.db import UTCDateTime
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.pipeline.models import StageChange


class days_between(FunctionElement):  # noqa: N801 - used like a SQL function
    """``days_between(earlier, later)``: the days from one moment to the other, fractional."""

    type = Float()
    name = "days_between"
    inherit_cache = True


@compiles(days_between, "sqlite")
def _days_between_sqlite(element, compiler, **kw):
    earlier, later = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(julianday({later}) - julianday({earlier}))"


@compiles(days_between, "postgresql")
def _days_between_postgresql(element, compiler, **kw):
    earlier, later = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400.0)"


def moment(value: datetime):
    """A moment as a bound parameter of the stored type (for comparisons and ``days_between``)."""
    return literal(value, UTCDateTime())


def ended_stays(lead_ids, start_at: datetime, end_at: datetime):
    """The stays of the leads ``lead_ids`` selects that ended in [start_at, end_at): a subquery
    with ``lead_id``, ``stage_id``, ``entered_at``, ``left_at``. Only the histories of leads
    that moved in the window are read, up to its end."""
    sc = StageChange.__table__
    moved = select(sc.c.lead_id).where(sc.c.at >= moment(start_at), sc.c.at < moment(end_at))
    ordered = (select(sc.c.lead_id, sc.c.from_stage_id, sc.c.at,
                      func.lag(sc.c.at).over(partition_by=sc.c.lead_id, order_by=(sc.c.at, sc.c.id)).label("prev_at"))
               .where(sc.c.lead_id.in_(lead_ids), sc.c.lead_id.in_(moved), sc.c.at < moment(end_at))
               .subquery("ordered_changes"))
    return (select(ordered.c.lead_id, ordered.c.from_stage_id.label("stage_id"),
                   func.coalesce(ordered.c.prev_at, Lead.created_at).label("entered_at"), ordered.c.at.label("left_at"))
            .join(Lead, Lead.id == ordered.c.lead_id)
            .where(ordered.c.at >= moment(start_at), ordered.c.from_stage_id.is_not(None),
                   # The first change of a lead created in a stage: that stay began at creation.
                   or_(ordered.c.prev_at.is_not(None), Lead.created_at < ordered.c.at))
            .subquery("ended_stays"))


def current_stays(lead_ids):
    """The stays still going: each lead in a stage, since it entered it."""
    return (select(Lead.id.label("lead_id"), Lead.stage_id,
                   func.coalesce(Lead.stage_entered_at, Lead.created_at).label("entered_at"))
            .where(Lead.id.in_(lead_ids), Lead.stage_id.is_not(None))
            .subquery("current_stays"))


def open_at(lead_ids, moments: list[datetime], open_stage_ids: list[int]) -> list[int]:
    """How many of the leads were in one of ``open_stage_ids`` at each moment (the instant
    before it): the leads in one now, less what the changes since each moment added.

    A change at or after a moment is undone (+1 for an open stage it left, −1 for one it
    entered; a lead's creation is its change from no stage). A lead created after a moment with
    no change entering its first stage is taken out through that stage: its ``from`` stage of
    its first change, or its stage now."""
    if not moments:
        return []
    if not open_stage_ids:
        return [0] * len(moments)
    sc = StageChange.__table__
    first = min(moments)

    def is_open(column):
        return case((column.in_(open_stage_ids), 1), else_=0)

    now = db.session.scalar(select(func.count()).select_from(Lead)
                            .where(Lead.id.in_(lead_ids), Lead.stage_id.in_(open_stage_ids)))
    delta = is_open(sc.c.to_stage_id) - is_open(sc.c.from_stage_id)
    since = db.session.execute(
        select(*[func.coalesce(func.sum(case((sc.c.at >= moment(at), delta), else_=0)), 0) for at in moments])
        .where(sc.c.lead_id.in_(lead_ids), sc.c.at >= moment(first))).one()
    entering = exists().where(sc.c.lead_id == Lead.id, sc.c.from_stage_id.is_(None))
    first_from = (select(sc.c.from_stage_id).where(sc.c.lead_id == Lead.id)
                  .order_by(sc.c.at, sc.c.id).limit(1).scalar_subquery())
    started_open = is_open(func.coalesce(first_from, Lead.stage_id))
    unrecorded = db.session.execute(
        select(*[func.coalesce(func.sum(case((Lead.created_at >= moment(at), started_open), else_=0)), 0)
                 for at in moments])
        .where(Lead.id.in_(lead_ids), Lead.created_at >= moment(first), ~entering)).one()
    return [int(now - changed - created) for changed, created in zip(since, unrecorded)]


