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
from leadflow.reports.filters import in_scope


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
               .where(sc.c.lead_id.in_(moved), sc.c.at < moment(end_at))
               .subquery("ordered_changes"))
    # The leads' scope is applied to the leads joined for ``created_at``, not as an IN list
    # inside the window (the same rows: the window is per lead).
    return (in_scope(select(ordered.c.lead_id, ordered.c.from_stage_id.label("stage_id"),
                            func.coalesce(ordered.c.prev_at, Lead.created_at).label("entered_at"),
                            ordered.c.at.label("left_at"))
                     .join(Lead, Lead.id == ordered.c.lead_id), lead_ids)
            .where(ordered.c.at >= moment(start_at), ordered.c.from_stage_id.is_not(None),
                   # The first change of a lead created in a stage: that stay began at creation.
                   or_(ordered.c.prev_at.is_not(None), Lead.created_at < ordered.c.at))
            .subquery("ended_stays"))


def current_stays(lead_ids):
    """The stays still going: each lead in a stage, since it entered it."""
    return (in_scope(select(Lead.id.label("lead_id"), Lead.stage_id,
                            func.coalesce(Lead.stage_entered_at, Lead.created_at).label("entered_at")), lead_ids)
            .where(Lead.stage_id.is_not(None))
            .subquery("current_stays"))


def _after_how_many(column, moments: list[datetime]):
    """How many of ``moments`` (ascending) are at or before ``column``: 0 … len(moments)."""
    return case(*[(column < moment(at), i) for i, at in enumerate(moments)], else_=len(moments))


def _undone_since(query, bucket, value) -> dict[int, int]:
    """{k: the sum of ``value`` over the rows of ``query`` at or after the k-th moment}, from
    one GROUP BY over ``bucket`` (``_after_how_many``) with a running total down the buckets."""
    per_bucket = query.with_only_columns(bucket.label("bucket"), func.sum(value).label("n")).group_by(bucket) \
        .subquery("per_bucket")
    running = func.sum(per_bucket.c.n).over(order_by=per_bucket.c.bucket.desc())
    return {int(b): int(n or 0) for b, n in db.session.execute(select(per_bucket.c.bucket, running))}


def open_at(lead_ids, moments: list[datetime], open_stage_ids: list[int]) -> list[int]:
    """How many of the leads were in one of ``open_stage_ids`` at each moment (the instant
    before it): the leads in one now, less what the changes since each moment added.

    A change at or after a moment is undone (+1 for an open stage it left, −1 for one it
    entered; a lead's creation is its change from no stage). A lead created after a moment with
    no change entering its first stage is taken out through that stage: its ``from`` stage of
    its first change, or its stage now.

    Each change (and each such lead) is placed once, by how many moments are at or before it;
    the database sums them per place and runs the total down, so the k-th moment's figure
    is the total of the places after it (one pass, whatever the number of moments)."""
    if not moments:
        return []
    if not open_stage_ids:
        return [0] * len(moments)
    sc = StageChange.__table__
    ordered = sorted(moments)
    first = ordered[0]

    def is_open(column):
        return case((column.in_(open_stage_ids), 1), else_=0)

    now = db.session.scalar(in_scope(select(func.count()).select_from(Lead), lead_ids)
                            .where(Lead.stage_id.in_(open_stage_ids)))
    changes = select(sc.c.id).join(Lead, Lead.id == sc.c.lead_id).where(sc.c.at >= moment(first))
    changed = _undone_since(in_scope(changes, lead_ids), _after_how_many(sc.c.at, ordered),
                            is_open(sc.c.to_stage_id) - is_open(sc.c.from_stage_id))
    entering = exists().where(sc.c.lead_id == Lead.id, sc.c.from_stage_id.is_(None))
    first_from = (select(sc.c.from_stage_id).where(sc.c.lead_id == Lead.id)
                  .order_by(sc.c.at, sc.c.id).limit(1).scalar_subquery())
    created = _undone_since(
        in_scope(select(Lead.id), lead_ids).where(Lead.created_at >= moment(first), ~entering),
        _after_how_many(Lead.created_at, ordered), is_open(func.coalesce(first_from, Lead.stage_id)))

    def since(k: int, totals: dict[int, int]) -> int:  # the places after the k-th moment: k+1 …
        return next((totals[b] for b in sorted(totals) if b > k), 0)

    figure = {at: now - since(k, changed) - since(k, created) for k, at in enumerate(ordered)}
    return [int(figure[at]) for at in moments]
