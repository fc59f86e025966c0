"""Time in stage: how long leads stay in each open stage of a pipeline, which open leads have
sat longest where they are, and where leads go backwards.

A stay runs from entering a stage to the lead's next stage change (``leadflow.reports.stays``).
The median and 90th percentile of a stage are over the stays that *ended* in the period (the
lead moved on); stays still going are counted apart ("in it now", with their median so far),
because a lead that entered yesterday would pull a finished median down. The median of an
even number of stays is the mean of the middle two; the 90th percentile is the nearest rank
(the ⌈0.9·n⌉-th shortest). Won and lost stages are where leads end, so they have no row.

Every figure is one aggregate query: stays ranked with ROW_NUMBER and COUNT window functions,
the median and p90 rows picked in SQL (SQLite has no percentile function).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, literal, or_, select, tuple_, union_all
from sqlalchemy.orm import aliased

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Pipeline, Stage, StageChange
from leadflow.reports.charts import bar_chart
from leadflow.reports.filters import ReportFilters, in_scope, report_lead_ids, report_pipeline
from leadflow.reports.registry import Report
from leadflow.reports.stays import current_stays, days_between, ended_stays, moment
from leadflow.web.formatting import iso_with_offset

STUCK_LIMIT = 10


@dataclass(frozen=True)
class StageTime:
    stage_id: int
    name: str
    left: int = 0  # stays that ended in the period
    median_days: float | None = None
    p90_days: float | None = None
    current: int = 0  # leads in the stage now
    current_median_days: float | None = None  # how long they have been there so far


@dataclass(frozen=True)
class StuckLead:
    lead_id: int
    name: str
    stage: str
    entered_at: datetime
    days: float


@dataclass(frozen=True)
class BackwardMove:
    from_stage: str
    to_stage: str
    moves: int
    leads: int


def _rounded(value) -> float | None:
    return None if value is None else round(float(value), 1)


def open_stages(pipeline_id: int) -> list[Stage]:
    return list(db.session.scalars(db.select(Stage).where(Stage.pipeline_id == pipeline_id, Stage.kind == "open")
                                   .order_by(Stage.position, Stage.id)))


def stage_times(lead_ids, pipeline_id: int, start_at: datetime, end_at: datetime, now: datetime) -> list[StageTime]:
    """One row per open stage of the pipeline, in board order: the stays that ended in
    [start_at, end_at) (count, median and p90 days), and the stays still going at ``now``
    (count and median days so far)."""
    stages = open_stages(pipeline_id)
    if not stages:
        return []
    stage_ids = [stage.id for stage in stages]
    ended, current = ended_stays(lead_ids, start_at, end_at), current_stays(lead_ids)
    measured = union_all(
        select(ended.c.stage_id, literal(0).label("still"),
               days_between(ended.c.entered_at, ended.c.left_at).label("days"))
        .where(ended.c.stage_id.in_(stage_ids)),
        select(current.c.stage_id, literal(1), days_between(current.c.entered_at, moment(now)))
        .where(current.c.stage_id.in_(stage_ids)),
    ).subquery("measured")
    # Both windows alike (the count over the whole partition), so one sort serves both.
    window = {"partition_by": (measured.c.stage_id, measured.c.still), "order_by": measured.c.days}
    ranked = select(measured.c.stage_id, measured.c.still, measured.c.days,
                    func.row_number().over(**window).label("rn"),
                    func.count().over(rows=(None, None), **window).label("n")).subquery("ranked")
    rn, n = ranked.c.rn, ranked.c.n
    middle = or_(rn == (n + 1) // 2, rn == (n + 2) // 2)
    query = (select(ranked.c.stage_id, ranked.c.still, func.max(n),
                    func.avg(case((middle, ranked.c.days))),
                    func.max(case((rn == (9 * n + 9) // 10, ranked.c.days))))
             .group_by(ranked.c.stage_id, ranked.c.still))
    found = {(stage_id, still): (count, median, p90) for stage_id, still, count, median, p90 in db.session.execute(query)}
    rows = []
    for stage in stages:
        left, median, p90 = found.get((stage.id, 0), (0, None, None))
        current_count, current_median, _ = found.get((stage.id, 1), (0, None, None))
        rows.append(StageTime(stage.id, stage.name, int(left), _rounded(median), _rounded(p90),
                              int(current_count), _rounded(current_median)))
    return rows


def stuck_leads(lead_ids, pipeline_id: int, now: datetime, limit: int = STUCK_LIMIT) -> list[StuckLead]:
    """The open leads that have been in their current (open) stage longest, longest first
    (read from the leads themselves: the stay still going is the lead's current stage)."""
    entered_at = func.coalesce(Lead.stage_entered_at, Lead.created_at)
    query = (in_scope(select(Lead.id, Lead.first_name, Lead.last_name, Stage.name, entered_at,
                             days_between(entered_at, moment(now)))
                      .join(Stage, Stage.id == Lead.stage_id), lead_ids)
             .where(Stage.pipeline_id == pipeline_id, Stage.kind == "open")
             .order_by(entered_at, Lead.id).limit(limit))
    return [StuckLead(lead_id, " ".join(p for p in (first, last) if p) or "(no name)", stage, entered, _rounded(days))
            for lead_id, first, last, stage, entered, days in db.session.execute(query)]


def backward_moves(lead_ids, pipeline_id: int, start_at: datetime, end_at: datetime) -> list[BackwardMove]:
    """Moves in the period to a stage placed before the one the lead left (within the
    pipeline): how many per from → to pair, and how many leads made them; most first.

    The pipeline's backward pairs of stages are known from its few stages, so only the moves
    of those pairs are counted (one GROUP BY over the history of the leads in scope), and the
    stages joined to the few rows it gives."""
    stages = db.session.execute(select(Stage.id, Stage.position).where(Stage.pipeline_id == pipeline_id)).all()
    backward = [(left.id, entered.id) for left in stages for entered in stages if entered.position < left.position]
    if not backward:
        return []
    sc = StageChange.__table__
    pairs = (in_scope(select(sc.c.from_stage_id, sc.c.to_stage_id, func.count().label("moves"),
                             func.count(sc.c.lead_id.distinct()).label("leads"))
                      .join(Lead, Lead.id == sc.c.lead_id), lead_ids)
             .where(sc.c.at >= moment(start_at), sc.c.at < moment(end_at),
                    tuple_(sc.c.from_stage_id, sc.c.to_stage_id).in_(backward))
             .group_by(sc.c.from_stage_id, sc.c.to_stage_id).subquery("pairs"))
    left, entered = aliased(Stage), aliased(Stage)
    query = (select(left.name, entered.name, pairs.c.moves, pairs.c.leads)
             .join(left, left.id == pairs.c.from_stage_id).join(entered, entered.id == pairs.c.to_stage_id)
             .order_by(pairs.c.moves.desc(), left.position, entered.position))
    return [BackwardMove(from_name, to_name, count, leads) for from_name, to_name, count, leads in db.session.execute(query)]


# --- the report ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TimeInStageReport:
    pipeline: Pipeline | None
    stages: list[StageTime]
    stuck: list[StuckLead]
    backward: list[BackwardMove]

    @property
    def ended(self) -> int:
        return sum(stage.left for stage in self.stages)

    @property
    def empty(self) -> bool:
        """No stay ended in the period and no lead is in an open stage now."""
        return not self.ended and not any(stage.current for stage in self.stages)


def compute(filters: ReportFilters, viewer) -> TimeInStageReport:
    pipeline = report_pipeline(filters)
    if pipeline is None:
        return TimeInStageReport(None, [], [], [])
    lead_ids, now = report_lead_ids(filters, viewer), utcnow()
    return TimeInStageReport(pipeline, stage_times(lead_ids, pipeline.id, filters.start_at, filters.end_at, now),
                             stuck_leads(lead_ids, pipeline.id, now),
                             backward_moves(lead_ids, pipeline.id, filters.start_at, filters.end_at))


def thumbnail(data: TimeInStageReport):
    return bar_chart([(stage.name, stage.median_days or 0) for stage in data.stages],
                     title="Median days in each stage, last 90 days", unit="days")


CSV_HEADER = ["Section", "Stage", "Stays ended in the period", "Median days", "90th percentile days",
              "Leads in the stage now", "Their median days so far", "Lead", "Lead ID", "Entered the stage",
              "Days in the stage so far", "Moved back to", "Moves back", "Leads moved back"]


def csv_table(data: TimeInStageReport) -> tuple[list[str], list[list]]:
    """The page's three tables in one sheet, told apart by the first column: each stage, the
    leads stuck longest, and the moves backwards (a blank cell where a column is not theirs)."""
    def cell(value):
        return "" if value is None else value

    stages = [["Stage", stage.name, stage.left, cell(stage.median_days), cell(stage.p90_days), stage.current,
               cell(stage.current_median_days)] + [""] * 7 for stage in data.stages]
    stuck = [["Stuck longest", lead.stage] + [""] * 5 + [lead.name, lead.lead_id, iso_with_offset(lead.entered_at),
                                                         lead.days, "", "", ""] for lead in data.stuck]
    backward = [["Moved backwards", move.from_stage] + [""] * 9 + [move.to_stage, move.moves, move.leads]
                for move in data.backward]
    return CSV_HEADER, stages + stuck + backward


REPORT = Report(
    "time-in-stage", "Time in stage",
    "Median and 90th-percentile days in each open stage, over the stays that ended in the period (from stage "
    "history: entering a stage to the next move); leads still in a stage are counted apart, with the days so far.",
    compute, thumbnail)
