"""The "Today" half of the home page: what to do now.

Each list reads at most ``LIST_LIMIT + 1`` rows; its count comes from those rows when they
are all there is, else from a count capped at ``COUNT_CAP`` (never a count of a whole table).
The page reads the rows of its two task lists in one statement and those of its three lead
lists in another (each list keeps its own order and LIMIT inside it), then asks for all the
counts it needs in one statement; the summary line, reloaded after a task changes, asks for
its four counts in one statement and reads no rows. On PostgreSQL each statement is a round
trip (and a plan, unless one generic plan is kept). "Today" is the viewer's own day, in their
time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, literal_column, union_all
from sqlalchemy.orm import defer, joinedload

from leadflow.activities.models import Task
from leadflow.activities.queries import local_day_bounds, open_task_exists
from leadflow.db import plan_limit
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.pipeline.stages import open_stage_weights

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


def one_plan_fits(scope) -> bool:
    """Whether every request of ``scope``'s kind runs the same plan well. Everyone's lists
    have no per-person value in them; a person's are each a walk of an index led by the
    person (``ix_leads_owner_hot_quiet`` for the hot leads), which suits the busiest rep and
    an admin with a few leads alike. A team's are not: its people come from a subquery,
    and the plan that suits a large team does not suit a small one."""
    return scope.view in ("all", "me")


def capped_count(query, cap: int = COUNT_CAP, one_plan: bool = False) -> tuple[int, bool]:
    """How many rows ``query`` selects, counting at most ``cap + 1`` of them."""
    return capped_counts({"n": query}, cap, one_plan)["n"]


def capped_counts(queries: dict, cap: int = COUNT_CAP, one_plan: bool = False) -> dict[str, tuple[int, bool]]:
    """``capped_count`` of each of ``queries`` (by name), all in one statement of one scalar
    subquery each; none when there is nothing to count. On PostgreSQL each statement costs a
    round trip and a plan of its own, which cost the home page more than the counting did."""
    if not queries:
        return {}
    found = db.session.execute(db.select(*(
        db.select(func.count()).select_from(query.limit(plan_limit(cap + 1, one_plan)).subquery()).scalar_subquery().label(name)
        for name, query in queries.items()))).one()
    return {name: (min(n, cap), n > cap) for name, n in zip(queries, found)}


@dataclass(frozen=True)
class ListQuery:
    """One of the page's lists: its rows, in order, and the ids of the same rows to count.
    ``ordered`` selects the ids of ``shown``'s rows in its order, and ``order_key`` puts rows
    read by several lists at once back in that order (see ``first_lead_rows``)."""

    shown: object
    counted: object
    one_plan: bool = False  # ``one_plan_fits`` its scope
    ordered: object = None
    order_key: object = None

    def first_rows(self, limit: int = LIST_LIMIT) -> list:
        """At most ``limit + 1`` rows: one more than shown tells whether to count."""
        return list(db.session.scalars(self.shown.limit(plan_limit(limit + 1, self.one_plan))).unique())

    def first_ids(self, limit: int = LIST_LIMIT):
        """The ids of ``first_rows``, as a subquery of a statement that reads several lists."""
        return self.ordered.limit(plan_limit(limit + 1, self.one_plan)).subquery()

    def listed(self, limit: int = LIST_LIMIT) -> Listed:
        """The list on its own: its rows, then its capped count when they run past ``limit``."""
        rows = self.first_rows(limit)
        return listed_from(rows, capped_count(self.counted, one_plan=self.one_plan) if len(rows) > limit else None, limit)


def listed_from(rows: list, counted: tuple[int, bool] | None, limit: int = LIST_LIMIT) -> Listed:
    """The list of ``rows`` (``first_rows``); ``counted`` is its capped count, needed only when
    there were more rows than ``limit``."""
    if len(rows) <= limit:
        return Listed(rows, len(rows))
    return Listed(rows[:limit], *counted)


def overflowing(rows: dict[str, list], queries: dict[str, ListQuery], limit: int = LIST_LIMIT) -> dict:
    """The count queries of the lists whose rows ran past ``limit``."""
    return {name: queries[name].counted for name, found in rows.items() if len(found) > limit}


def listed(query, count_query, limit: int = LIST_LIMIT) -> Listed:
    return ListQuery(query, count_query).listed(limit)


# What a home-page row shows of a lead leaves out its JSON columns (decoding a score
# breakdown cost more than the rest of the row).
LIST_COLUMNS = (defer(Lead.score_breakdown), defer(Lead.custom_fields))


def _live_leads(scope):
    return (Lead.deleted_at.is_(None), scope.people(Lead.owner_id))


def _by_due(task) -> tuple:
    return task.due_at, task.id


def due_queries(scope, viewer, now: datetime) -> tuple[ListQuery, ListQuery]:
    """Open tasks of the people in view that are overdue (due before now) and due later
    today (before the viewer's midnight); tasks on leads in the trash are left out."""
    _, tomorrow = local_day_bounds(viewer, now)
    # "Not on a lead in the trash" as NOT IN the (small) trash, not a join: a join lets SQLite
    # start from every live lead when the view is everyone's.
    trashed = db.select(Lead.id).where(Lead.deleted_at.is_not(None))
    base = (db.select(Task)
            .where(scope.people(Task.assignee_id), Task.done_at.is_(None), Task.lead_id.not_in(trashed)))
    shown = base.options(*TASK_ROW).order_by(Task.due_at, Task.id)
    ordered = base.with_only_columns(Task.id).order_by(Task.due_at, Task.id)
    overdue = (Task.due_at < now,)
    later = (Task.due_at >= now, Task.due_at < tomorrow)
    one_plan = one_plan_fits(scope)
    return (ListQuery(shown.where(*overdue), base.where(*overdue).with_only_columns(Task.id), one_plan,
                      ordered.where(*overdue), _by_due),
            ListQuery(shown.where(*later), base.where(*later).with_only_columns(Task.id), one_plan,
                      ordered.where(*later), _by_due))


# What a home-page task row shows: the task, its lead (without the JSON columns) and assignee.
TASK_ROW = (joinedload(Task.lead).options(*LIST_COLUMNS), joinedload(Task.assignee))
# What a home-page lead row shows: the lead (without the JSON columns), its organization and owner.
LEAD_ROW = (joinedload(Lead.organization), joinedload(Lead.owner), *LIST_COLUMNS)


def first_due_rows(overdue: ListQuery, due_today: ListQuery, now: datetime, limit: int = LIST_LIMIT) -> dict[str, list]:
    """``first_rows`` of the overdue tasks and of those due later today, in one statement: the
    tasks whose ids are among either list's first ids, in due order; a task is overdue when
    it was due before ``now``, as the lists split them."""
    ids = union_all(*(db.select(query.first_ids(limit).c.id) for query in (overdue, due_today)))
    tasks = db.session.scalars(db.select(Task).options(*TASK_ROW).where(Task.id.in_(ids))
                               .order_by(Task.due_at, Task.id)).unique()
    found: dict[str, list] = {"overdue": [], "due_today": []}
    for task in tasks:
        found["overdue" if task.due_at < now else "due_today"].append(task)
    return found


def first_lead_rows(queries: dict[str, ListQuery], limit: int = LIST_LIMIT) -> dict[str, list]:
    """``first_rows`` of several lists of leads, in one statement: each list's first ids (in
    its own order, with its own LIMIT) named by the list, joined to their leads; a lead in two
    lists comes once for each. Each list is put back in its order by its ``order_key``."""
    listed = union_all(*(db.select(literal_column(f"'{name}'").label("list"), query.first_ids(limit).c.id)
                         for name, query in queries.items())).subquery("listed")
    found: dict[str, list] = {name: [] for name in queries}
    for name, lead in db.session.execute(db.select(listed.c.list, Lead).select_from(listed)
                                         .join(Lead, Lead.id == listed.c.id).options(*LEAD_ROW)):
        found[name].append(lead)
    return {name: sorted(rows, key=queries[name].order_key) for name, rows in found.items()}


def due_tasks(scope, viewer, now: datetime) -> tuple[Listed, Listed]:
    overdue, today = due_queries(scope, viewer, now)
    return overdue.listed(), today.listed()


def _open_stage_ids() -> list[int]:
    """The open stages' ids as a list: with the stages as a subquery PostgreSQL joined them
    first and sorted every hot lead (65 ms instead of 1.5 at 100,000 leads), and planned the
    empty state's count ten times longer (3.4 ms instead of 0.3)."""
    return list(open_stage_weights())


def _without_next_step(scope):
    """Open leads in view (in an open stage, as "My work" counts them; not a customer or
    disqualified) with no open task."""
    return (db.select(Lead.id)
            .where(*_live_leads(scope), Lead.stage_id.in_(_open_stage_ids()),
                   Lead.lifecycle.not_in(CLOSED_LIFECYCLES), ~open_task_exists(Lead.id)))


def hot_query(scope) -> ListQuery:
    """Hot leads with nothing planned, the longest quiet first."""
    # The conditions on the leads themselves in the order of ``ix_leads_hot_quiet``: the walk
    # stops at the page's rows.
    ids = _without_next_step(scope).where(Lead.temperature == "hot")
    order = (Lead.last_activity_at.asc().nulls_first(), Lead.id)
    return ListQuery(ids.with_only_columns(Lead).options(*LEAD_ROW).order_by(*order), ids, one_plan_fits(scope),
                     ids.order_by(*order), _quiet_longest_first)


def _quiet_longest_first(lead) -> tuple:
    """The hot list's order: never touched first, then the longest quiet."""
    return lead.last_activity_at is not None, lead.last_activity_at, lead.id


def hot_without_next_step(scope) -> Listed:
    return hot_query(scope).listed()


def waiting_query(scope, now: datetime, days: int = NEW_LEAD_DAYS) -> ListQuery:
    """Leads that arrived in the last ``days`` days and nobody has answered yet, the longest
    waiting first (customers and disqualified leads are not waiting)."""
    where = (*_live_leads(scope), Lead.created_at >= now - timedelta(days=days),
             Lead.first_response_at.is_(None), Lead.lifecycle.not_in(CLOSED_LIFECYCLES))
    order = (Lead.created_at, Lead.id)
    ids = db.select(Lead.id).where(*where)
    return ListQuery(db.select(Lead).options(*LEAD_ROW).where(*where).order_by(*order), ids, one_plan_fits(scope),
                     ids.order_by(*order), _by_arrival)


def _by_arrival(lead) -> tuple:
    return lead.created_at, lead.id


def awaiting_first_response(scope, now: datetime, days: int = NEW_LEAD_DAYS) -> Listed:
    return waiting_query(scope, now, days).listed()


def new_leads_query(scope, now: datetime, days: int = NEW_LEAD_DAYS) -> ListQuery:
    """Leads in view that arrived in the last ``days`` days, newest first."""
    where = (*_live_leads(scope), Lead.created_at >= now - timedelta(days=days))
    order = (Lead.created_at.desc(), Lead.id.desc())
    ids = db.select(Lead.id).where(*where)
    return ListQuery(db.select(Lead).options(*LEAD_ROW).where(*where).order_by(*order), ids, one_plan_fits(scope),
                     ids.order_by(*order), _newest_first)


def _newest_first(lead) -> tuple:
    """Newest first: the arrival in whole microseconds, negated (exact, unlike a float)."""
    return -((lead.created_at.replace(tzinfo=None) - _EPOCH) // _MICROSECOND), -lead.id


_EPOCH, _MICROSECOND = datetime(1970, 1, 1), timedelta(microseconds=1)


def new_leads(scope, now: datetime, days: int = NEW_LEAD_DAYS) -> Listed:
    return new_leads_query(scope, now, days).listed()


def minutes_since(at: datetime, now: datetime) -> int:
    return max(0, int((now - at).total_seconds() // 60))


def summary_queries(scope, viewer, now: datetime) -> dict[str, ListQuery]:
    """The lists the summary line counts, by the names the page gives them."""
    overdue, due_today = due_queries(scope, viewer, now)
    return {"overdue": overdue, "due_today": due_today, "hot": hot_query(scope), "waiting": waiting_query(scope, now)}


def today_context(scope, viewer, now: datetime) -> dict:
    """Every list of "Today": the rows of the task lists in one statement and of the lead
    lists in another, then in one statement the counts of those that run past their rows and,
    when nothing is due, the empty state's count.

    A person's lead lists are in one statement too: their id is written in it (``Scope.people``),
    so PostgreSQL keeps the plan made for them. With the id bound it costed the generic plan
    for an average owner, and a person with few leads (the demo admin) made the plans for their
    values so much cheaper that it planned the statement again on every request (0.7 ms at
    100,000 leads): the lists were read one statement each, two round trips more."""
    queries = {**summary_queries(scope, viewer, now), "new_leads": new_leads_query(scope, now)}
    rows = first_due_rows(queries["overdue"], queries["due_today"], now)
    rows.update(first_lead_rows({name: queries[name] for name in ("hot", "waiting", "new_leads")}))
    to_count = overflowing(rows, queries)
    # The hint of the empty state, only when there is nothing due.
    nothing_due = not rows["overdue"] and not rows["due_today"]
    if nothing_due:
        to_count["no_next_step"] = _without_next_step(scope)
    counts = capped_counts(to_count, one_plan=one_plan_fits(scope))
    context = {name: listed_from(found, counts.get(name)) for name, found in rows.items()}
    context.update({
        "new_lead_days": NEW_LEAD_DAYS,
        "minutes_since": minutes_since,
        "no_next_step": counts["no_next_step"] if nothing_due else None,
    })
    return context


def summary_counts(scope, viewer, now: datetime) -> dict[str, Listed]:
    """The summary line's four counts (what ``today_context``'s lists count), in one
    statement and without their rows."""
    counts = capped_counts({name: query.counted for name, query in summary_queries(scope, viewer, now).items()},
                           one_plan=one_plan_fits(scope))
    return {name: Listed([], count, capped) for name, (count, capped) in counts.items()}
