"""The funnel: of the leads created in the period, how many reached each stage of a pipeline
and each lifecycle step, the conversion from step to step, and where the others stopped.

A lead *reached* a step when it was ever at that step or a later one (a skipped step counts
as reached; a lead that moved back still counts for the furthest step it got to):

- stages: read from its stage history (``stage_changes``) and its current stage; the steps
  are the pipeline's open and won stages in board order; a lost stage is no step: the leads
  now in one are reported as lost at the furthest step they reached;
- lifecycle: lead → MQL → SQL → opportunity → customer, read from ``lifecycle_changes`` and
  the current lifecycle (the highest step ever reached); a subscriber has reached none, and
  "disqualified" is no step: the leads now disqualified are reported at the furthest step.

Every count is one aggregate query per funnel: the cohort's history rows and its leads'
current rows, grouped by lead (the furthest step, whether it is out now), then summed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, case, cast, func, literal, null, union_all

from leadflow.extensions import db
from leadflow.leads.models import LIFECYCLE_LABELS, Lead, LifecycleChange
from leadflow.pipeline.models import Pipeline, Stage, StageChange
from leadflow.reports.charts import funnel_chart
from leadflow.reports.filters import ReportFilters, in_scope, report_lead_ids, report_pipeline
from leadflow.reports.registry import Report

LIFECYCLE_STEPS = ("lead", "mql", "sql", "opportunity", "customer")


@dataclass(frozen=True)
class Step:
    label: str
    reached: int
    from_previous: float | None  # percent of the previous step's leads that reached this one
    from_first: float | None  # percent of the first step's
    dropped: int  # reached this step and not the next (the last step: 0)
    stopped_out: int  # of those, lost (stages) or disqualified (lifecycle)


@dataclass(frozen=True)
class Funnel:
    steps: list[Step]
    cohort: int  # leads created in the period (in scope)
    outside: int  # of those, leads at no step (not in this pipeline; subscribers)
    stopped_before: int  # lost or disqualified without reaching the first step

    @property
    def chart_steps(self) -> list[tuple[str, int]]:
        return [(step.label, step.reached) for step in self.steps]


@dataclass(frozen=True)
class FunnelReport:
    pipeline: Pipeline | None
    stages: Funnel
    lifecycle: Funnel

    @property
    def empty(self) -> bool:
        return self.lifecycle.cohort == 0


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _steps(labels: list[str], reached: list[int], stopped: list[int]) -> list[Step]:
    steps = []
    for i, (label, count) in enumerate(zip(labels, reached)):
        following = reached[i + 1] if i + 1 < len(reached) else None
        steps.append(Step(label, count, _percent(count, reached[i - 1]) if i else None, _percent(count, reached[0]),
                          count - following if following is not None else 0, stopped[i]))
    return steps


def _cohort(query, lead_ids, start_at: datetime, end_at: datetime):
    """``query`` (over ``leads``, maybe joined) narrowed to the leads of ``lead_ids`` created in
    [start_at, end_at). Applied to each branch rather than kept in a CTE: PostgreSQL has no
    statistics for a CTE and would plan the history for 200 leads instead of 100,000."""
    return in_scope(query, lead_ids).where(Lead.created_at >= start_at, Lead.created_at < end_at)


def _count(per_lead, steps: int, labels: list[str]) -> Funnel:
    """Sum the per-lead rows (``furthest``: the lead's furthest step index, NULL for none;
    ``out``: 1 when it is lost or disqualified now) into the funnel, in one query: the
    cohort, those at no step, reached per step, stopped out at each step and before the first."""
    furthest, out = per_lead.c.furthest, per_lead.c.out == 1
    columns = [func.count(), func.sum(case((furthest.is_(None), 1), else_=0))]
    columns += [func.sum(case((furthest >= i, 1), else_=0)) for i in range(steps)]
    columns += [func.sum(case(((furthest == i) & out, 1), else_=0)) for i in range(steps)]
    columns.append(func.sum(case((furthest.is_(None) & out, 1), else_=0)))
    values = [int(v or 0) for v in db.session.execute(db.select(*columns)).one()]
    reached, stopped = values[2:2 + steps], values[2 + steps:2 + 2 * steps]
    return Funnel(_steps(labels, reached, stopped), values[0], values[1], values[2 + 2 * steps])


def _per_lead(history, current):
    """Each cohort lead once: its furthest step over its history rows and its current row
    (``current`` also says whether it is out now), in one GROUP BY over both. (Measured
    against grouping the history alone and joining it back to the leads: half the time on
    SQLite, the same on PostgreSQL.)"""
    seen = union_all(history, current).subquery("seen")
    return (db.select(func.max(seen.c.step).label("furthest"), func.max(seen.c.out).label("out"))
            .group_by(seen.c.lead_id).subquery("per_lead"))


def lifecycle_funnel(lead_ids, start_at: datetime, end_at: datetime) -> Funnel:
    """The lifecycle funnel of the leads of ``lead_ids`` created in [start_at, end_at)."""
    rank = lambda column: case(*((column == name, i) for i, name in enumerate(LIFECYCLE_STEPS)), else_=None)  # noqa: E731
    per_lead = _per_lead(
        _cohort(db.select(LifecycleChange.lead_id.label("lead_id"), rank(LifecycleChange.to_lifecycle).label("step"),
                          literal(0).label("out")).join(Lead, Lead.id == LifecycleChange.lead_id),
                lead_ids, start_at, end_at),
        _cohort(db.select(Lead.id, rank(Lead.lifecycle), case((Lead.lifecycle == "disqualified", 1), else_=0)),
                lead_ids, start_at, end_at))
    return _count(per_lead, len(LIFECYCLE_STEPS), [LIFECYCLE_LABELS[name] for name in LIFECYCLE_STEPS])


def pipeline_steps(pipeline: Pipeline | None) -> tuple[list[Stage], list[int]]:
    """The pipeline's stages that are steps (open and won, in board order) and its lost stages' ids."""
    if pipeline is None:
        return [], []
    stages = db.session.scalars(db.select(Stage).where(Stage.pipeline_id == pipeline.id)
                                .order_by(Stage.position, Stage.id)).all()
    return [s for s in stages if s.kind != "lost"], [s.id for s in stages if s.kind == "lost"]


def stage_funnel(lead_ids, start_at: datetime, end_at: datetime, pipeline: Pipeline | None) -> Funnel:
    """The stage funnel of ``pipeline`` for the leads of ``lead_ids`` created in [start_at, end_at)."""
    steps, lost_ids = pipeline_steps(pipeline)

    def index(column):
        return case(*((column == s.id, i) for i, s in enumerate(steps)), else_=None) if steps else cast(null(), Integer)
    per_lead = _per_lead(
        _cohort(db.select(StageChange.lead_id.label("lead_id"), index(StageChange.to_stage_id).label("step"),
                          literal(0).label("out")).join(Lead, Lead.id == StageChange.lead_id)
                .where(StageChange.to_stage_id.in_([s.id for s in steps])), lead_ids, start_at, end_at),
        _cohort(db.select(Lead.id, index(Lead.stage_id), case((Lead.stage_id.in_(lost_ids), 1), else_=0)),
                lead_ids, start_at, end_at))
    return _count(per_lead, len(steps), [s.name for s in steps])


def compute(filters: ReportFilters, viewer) -> FunnelReport:
    lead_ids = report_lead_ids(filters, viewer)
    pipeline = report_pipeline(filters)
    return FunnelReport(pipeline, stage_funnel(lead_ids, filters.start_at, filters.end_at, pipeline),
                        lifecycle_funnel(lead_ids, filters.start_at, filters.end_at))


def thumbnail(data: FunnelReport):
    funnel = data.stages if data.stages.steps else data.lifecycle
    return funnel_chart(funnel.chart_steps, title="Leads reaching each step, last 90 days")


CSV_HEADER = ["Funnel", "Step", "Leads reaching it", "% of the step before", "% of the first step",
              "Dropped off after it", "Of those lost or disqualified"]


def csv_table(data: FunnelReport) -> tuple[list[str], list[list]]:
    rows = []
    for name, funnel in ((f"Stages of {data.pipeline.name}" if data.pipeline else "Stages", data.stages),
                         ("Lifecycle", data.lifecycle)):
        rows += [[name, step.label, step.reached, "" if step.from_previous is None else step.from_previous,
                  "" if step.from_first is None else step.from_first, step.dropped, step.stopped_out]
                 for step in funnel.steps]
    return CSV_HEADER, rows


REPORT = Report(
    "funnel", "Funnel",
    "Of the leads created in the period, how many ever reached each stage of the pipeline and each lifecycle step "
    "(a skipped step counts as reached), from stage and lifecycle history.",
    compute, thumbnail)
