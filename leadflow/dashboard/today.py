"""The "Today" half of the home page: what to do now.

Each list reads at most ``LIST_LIMIT + 1`` rows; its count comes from those rows when they
are all there is, else from a count capped at ``COUNT_CAP`` (never a count of a whole table).
"Today" is the viewer's own day, in their time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.orm import defer, joinedload

from leadflow.activities.models import Task
from leadflow.activities.queries import local_day_bounds, open_task_exists
from leadflow.extensions import db
from leadflow.web import refcache
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Stage

LIST_LIMIT = 10
COUNT_CAP = 99  # "99+": a home page needs no more, and each counted row is a row read
NEW_LEAD_DAYS = 7
CLOSED_LIFECYCLES = ("customer", "disqualified")


@dataclass(frozen=True)
class Listed:
    """A few rows of a list and how many there are in all (``capped``: at least that many)."""

    rows: list
    count: int
    capped: bool = False

    @property
    def more(self) -> int:
        return self.count - len(self.rows)


def capped_count(query, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many rows ``query`` selects, counting at most ``cap + 1`` of them."""
    found = db.session.scalar(db.select(func.count()).select_from(query.limit(cap + 1).subquery()))
    return min(found, cap), found > cap


def listed(query, count_query, limit: int = LIST_LIMIT) -> Listed:
    rows = list(db.session.scalars(query.limit(limit + 1)).unique())
    if len(rows) <= limit:
        return Listed(rows, len(rows))
    count, capped = capped_count(count_query)
    return Listed(rows[:limit], count, capped)


# What a home-page row shows of a lead leaves out its JSON columns (decoding a score
# breakdown cost more than the rest of the row).
LIST_COLUMNS = (defer(Lead.score_breakdown), defer(Lead.custom_fields))


def _live_leads(scope):
    return (Lead.deleted_at.is_(None), scope.people(Lead.owner_id))


def due_tasks(scope, viewer, now: datetime) -> tuple[Listed, Listed]:
    """Open tasks of the people in view that are overdue (due before now) and due later
    today (before the viewer's midnight); tasks on leads in the trash are left out."""
    _, tomorrow = local_day_bounds(viewer, now)
    # "Not on a lead in the trash" as NOT IN the (small) trash, not a join: a join lets SQLite
    # start from every live lead when the view is everyone's.
    trashed = db.select(Lead.id).where(Lead.deleted_at.is_not(None))
    base = (db.select(Task)
            .where(scope.people(Task.assignee_id), Task.done_at.is_(None), Task.lead_id.not_in(trashed)))
    shown = (base.options(joinedload(Task.lead).options(*LIST_COLUMNS), joinedload(Task.assignee))
             .order_by(Task.due_at, Task.id))
    overdue = listed(shown.where(Task.due_at < now), base.where(Task.due_at < now).with_only_columns(Task.id))
    later = (Task.due_at >= now, Task.due_at < tomorrow)
    today = listed(shown.where(*later), base.where(*later).with_only_columns(Task.id))
    return overdue, today


def _open_stage_ids() -> list[int]:
    """The open stages' ids as a list: with the stages as a subquery PostgreSQL joined them
    first and sorted every hot lead (65 ms instead of 1.5 at 100,000 leads), and planned the
    empty state's count ten times longer (3.4 ms instead of 0.3)."""
    return list(refcache.cached(("pipelines",), "open stage ids", lambda: tuple(
        db.session.scalars(db.select(Stage.id).where(Stage.kind == "open")))))


def _without_next_step(scope):
    """Open leads in view (in an open stage, as "My work" counts them; not a customer or
    disqualified) with no open task."""
    return (db.select(Lead.id)
            .where(*_live_leads(scope), Lead.stage_id.in_(_open_stage_ids()),
                   Lead.lifecycle.not_in(CLOSED_LIFECYCLES), ~open_task_exists(Lead.id)))


def hot_without_next_step(scope) -> Listed:
    """Hot leads with nothing planned, the longest quiet first."""
    # The conditions on the leads themselves in the order of ``ix_leads_hot_quiet``: the walk
    # stops at the page's rows.
    ids = _without_next_step(scope).where(Lead.temperature == "hot")
    query = (ids.with_only_columns(Lead).options(joinedload(Lead.organization), joinedload(Lead.owner), *LIST_COLUMNS)
             .order_by(Lead.last_activity_at.asc().nulls_first(), Lead.id))
    return listed(query, ids)


def without_next_step_count(scope) -> tuple[int, bool]:
    """How many open leads in view have no next step (for the empty state's hint)."""
    return capped_count(_without_next_step(scope))


def awaiting_first_response(scope, now: datetime, days: int = NEW_LEAD_DAYS) -> Listed:
    """Leads that arrived in the last ``days`` days and nobody has answered yet, the longest
    waiting first (customers and disqualified leads are not waiting)."""
    where = (*_live_leads(scope), Lead.created_at >= now - timedelta(days=days),
             Lead.first_response_at.is_(None), Lead.lifecycle.not_in(CLOSED_LIFECYCLES))
    query = (db.select(Lead).options(joinedload(Lead.organization), joinedload(Lead.owner), *LIST_COLUMNS)
             .where(*where).order_by(Lead.created_at, Lead.id))
    return listed(query, db.select(Lead.id).where(*where))


def new_leads(scope, now: datetime, days: int = NEW_LEAD_DAYS) -> Listed:
    """Leads in view that arrived in the last ``days`` days, newest first."""
    where = (*_live_leads(scope), Lead.created_at >= now - timedelta(days=days))
    query = (db.select(Lead).options(joinedload(Lead.organization), joinedload(Lead.owner), *LIST_COLUMNS)
             .where(*where).order_by(Lead.created_at.desc(), Lead.id.desc()))
    return listed(query, db.select(Lead.id).where(*where))


def minutes_since(at: datetime, now: datetime) -> int:
    return max(0, int((now - at).total_seconds() // 60))


def today_context(scope, viewer, now: datetime) -> dict:
    overdue, due_today = due_tasks(scope, viewer, now)
    context = {
        "overdue": overdue, "due_today": due_today,
        "hot": hot_without_next_step(scope),
        "waiting": awaiting_first_response(scope, now),
        "new_leads": new_leads(scope, now),
        "new_lead_days": NEW_LEAD_DAYS,
        "minutes_since": minutes_since,
    }
    # The hint of the empty state, only when there is nothing due.
    context["no_next_step"] = (None if overdue.count or due_today.count else without_next_step_count(scope))
    return context
