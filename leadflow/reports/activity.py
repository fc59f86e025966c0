"""Team activity: what each person did in the period, in one aggregate query.

Who a figure counts for:
- calls, e-mails and meetings: the person who logged the activity (``Activity.actor_id``),
  whoever owns the lead — a call Ann logs on Bob's lead is Ann's work;
- tasks done: the person who ticked the task done (``Task.done_by_id``) within the period;
- tasks overdue: the task's assignee, for tasks still open whose due time has passed
  ("now", whatever the period: overdue is a state, not an event);
- leads won and lost: the lead's owner, for leads that entered a won (lost) stage in the
  period (``stage_changes``); a lead that entered it twice (won, reopened, won again) counts
  once.

Only leads in ``lead_ids`` (live leads the viewer may see, narrowed by the report's
filters) count: work on a lead in the trash is left out. Work nobody is named for (an
activity the API logged, a lead with no owner) is grouped under ``NOBODY``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, literal_column, select, union_all

from markupsafe import Markup

from leadflow.accounts.models import User
from leadflow.activities.models import Activity, Task
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Stage, StageChange
from leadflow.reports.charts import bar_chart, column_chart
from leadflow.reports.filters import ReportFilters, report_lead_ids
from leadflow.reports.registry import Report

NOBODY = "No one"
METRICS = ("calls", "emails", "meetings", "tasks_done", "tasks_overdue", "won", "lost")
METRIC_LABELS = {"calls": "Calls", "emails": "E-mails", "meetings": "Meetings", "tasks_done": "Tasks done",
                 "tasks_overdue": "Tasks overdue", "won": "Leads won", "lost": "Leads lost"}


@dataclass(frozen=True)
class ActivityRow:
    user_id: int | None
    name: str
    calls: int = 0
    emails: int = 0
    meetings: int = 0
    tasks_done: int = 0
    tasks_overdue: int = 0
    won: int = 0
    lost: int = 0

    def figures(self) -> list[int]:
        return [getattr(self, metric) for metric in METRICS]


@dataclass(frozen=True)
class TeamActivity:
    rows: list[ActivityRow]  # people with anything to show, most activity first; "No one" last
    total: ActivityRow

    @property
    def labels(self) -> list[str]:
        return [METRIC_LABELS[m] for m in METRICS]

    def chart(self) -> Markup:
        return chart(self)

    def outcomes_chart(self) -> Markup:
        return outcomes_chart(self)


def _columns(**values):
    """The metric columns of one UNION ALL branch: the given ones, 0 for the others."""
    return [values.get(m, literal_column("0")).label(m) for m in METRICS]


def _count_kind(kind: str):
    return func.coalesce(func.sum(case((Activity.kind == kind, 1), else_=0)), 0)


def _branches(lead_ids, start_at: datetime, end_at: datetime, now: datetime):
    logged = select(Activity.actor_id.label("person"), *_columns(
        calls=_count_kind("call"), emails=_count_kind("email"), meetings=_count_kind("meeting"),
    )).where(Activity.lead_id.in_(lead_ids), Activity.kind.in_(("call", "email", "meeting")),
             Activity.occurred_at >= start_at, Activity.occurred_at < end_at).group_by(Activity.actor_id)
    done = select(Task.done_by_id.label("person"), *_columns(tasks_done=func.count())) \
        .where(Task.lead_id.in_(lead_ids), Task.done_at >= start_at, Task.done_at < end_at) \
        .group_by(Task.done_by_id)
    overdue = select(Task.assignee_id.label("person"), *_columns(tasks_overdue=func.count())) \
        .where(Task.lead_id.in_(lead_ids), Task.done_at.is_(None), Task.due_at < now) \
        .group_by(Task.assignee_id)
    entered = select(
        StageChange.lead_id,
        func.max(case((Stage.kind == "won", 1), else_=0)).label("won"),
        func.max(case((Stage.kind == "lost", 1), else_=0)).label("lost"),
    ).join(Stage, Stage.id == StageChange.to_stage_id) \
        .where(StageChange.lead_id.in_(lead_ids), Stage.kind.in_(("won", "lost")),
               StageChange.at >= start_at, StageChange.at < end_at) \
        .group_by(StageChange.lead_id).subquery("entered")
    outcomes = select(
        Lead.owner_id.label("person"),
        *_columns(won=func.sum(entered.c.won), lost=func.sum(entered.c.lost)),
    ).join(entered, entered.c.lead_id == Lead.id).group_by(Lead.owner_id)
    return union_all(logged, done, overdue, outcomes).subquery("work")


def team_activity(lead_ids, start_at: datetime, end_at: datetime, now: datetime) -> TeamActivity:
    """Each person's figures (see the module); ``now`` decides which open tasks are overdue."""
    work = _branches(lead_ids, start_at, end_at, now)
    per_person = select(work.c.person, *[func.sum(work.c[m]).label(m) for m in METRICS]) \
        .group_by(work.c.person).subquery("per_person")
    everything = sum((per_person.c[m] for m in METRICS[1:]), per_person.c[METRICS[0]])
    rows = [ActivityRow(r.person, r.name if r.person is not None else NOBODY, *(int(r[m]) for m in METRICS))
            for r in db.session.execute(
                select(per_person, User.name).outerjoin(User, User.id == per_person.c.person)
                .order_by(per_person.c.person.is_(None), everything.desc(), User.name, per_person.c.person)
            ).mappings()]
    rows = [row for row in rows if any(row.figures())]
    total = ActivityRow(None, "Everyone", *(sum(getattr(row, m) for row in rows) for m in METRICS))
    return TeamActivity(rows, total)



# --- the page -------------------------------------------------------------------------------

def compute(filters: ReportFilters, viewer, now: datetime | None = None) -> TeamActivity:
    return team_activity(report_lead_ids(filters, viewer), filters.start_at, filters.end_at, now or utcnow())


def chart(data: TeamActivity) -> Markup:
    """Calls, e-mails and meetings per person, side by side."""
    people = [row for row in data.rows if row.calls or row.emails or row.meetings]
    return column_chart([row.name for row in people],
                        [(METRIC_LABELS[m], [getattr(row, m) for row in people]) for m in ("calls", "emails", "meetings")],
                        title="Calls, e-mails and meetings logged, by person")


def outcomes_chart(data: TeamActivity) -> Markup:
    return column_chart([row.name for row in data.rows if row.won or row.lost],
                        [(METRIC_LABELS[m], [getattr(row, m) for row in data.rows if row.won or row.lost])
                         for m in ("won", "lost")],
                        title="Leads won and lost, by owner")


def thumbnail(data: TeamActivity) -> Markup:
    return bar_chart([(row.name, row.calls + row.emails + row.meetings) for row in data.rows[:5]],
                     title="Calls, e-mails and meetings logged, by person")


def csv_table(data: TeamActivity) -> tuple[list[str], list[list]]:
    return (["Person"] + [METRIC_LABELS[m] for m in METRICS],
            [[row.name, *row.figures()] for row in [*data.rows, data.total]])


REPORT = Report(
    "activity", "Team activity",
    "Per person in the period: calls, e-mails and meetings they logged (on any lead), tasks they ticked done, "
    "their open tasks overdue now, and leads they own that entered a won or lost stage.",
    compute, thumbnail)
