"""A lead's stays in stages, read from its stage history (``stage_changes``).

Each stay runs from entering a stage to the lead's next change, or is still going (``left_at``
NULL: the lead's current stage). A lead created with a stage may have no change entering it
(an older row, a fast import): its first stay starts at ``created_at`` — in the ``from`` stage of
its first change, or in its current stage when it never moved. Time in stage, the board as of a
date and the open deals of a past month are all questions about these rows.

``days_between`` is the one way a report turns two moments into days (fractional), on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, cast, exists, func, literal, null, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from leadflow.db import UTCDateTime
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


def stays(lead_ids):
    """The stays of the leads ``lead_ids`` selects, as a CTE with ``lead_id``, ``stage_id``,
    ``entered_at`` and ``left_at`` (NULL while the lead is still in the stage). Stays in a
    stage that was deleted since (its history says no stage) are left out."""
    sc = StageChange.__table__
    order = (sc.c.at, sc.c.id)
    ordered = (select(sc.c.lead_id, sc.c.from_stage_id, sc.c.to_stage_id, sc.c.at,
                      func.lead(sc.c.at).over(partition_by=sc.c.lead_id, order_by=order).label("next_at"),
                      func.row_number().over(partition_by=sc.c.lead_id, order_by=order).label("n"))
               .where(sc.c.lead_id.in_(lead_ids))).cte("ordered_changes")
    moved = (select(ordered.c.lead_id, ordered.c.to_stage_id.label("stage_id"), ordered.c.at.label("entered_at"),
                    ordered.c.next_at.label("left_at"))
             .where(ordered.c.to_stage_id.is_not(None)))
    # Created in a stage with no change entering it, then moved: the first stay starts at creation.
    before_first = (select(ordered.c.lead_id, ordered.c.from_stage_id, Lead.created_at, ordered.c.at)
                    .join(Lead, Lead.id == ordered.c.lead_id)
                    .where(ordered.c.n == 1, ordered.c.from_stage_id.is_not(None), Lead.created_at < ordered.c.at))
    # Created in a stage and never moved: one stay, from creation, still going.
    never_moved = (select(Lead.id, Lead.stage_id, Lead.created_at, cast(null(), UTCDateTime))
                   .where(Lead.id.in_(lead_ids), Lead.stage_id.is_not(None),
                          ~exists().where(sc.c.lead_id == Lead.id)))
    return union_all(moved, before_first, never_moved).cte("stays")
