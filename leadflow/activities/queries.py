"""What the timeline, task lists, "My work" and the board's next-task line show.

Times are stored in UTC; "today" always means today in the user's own timezone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache

from sqlalchemy import and_, bindparam, exists, or_
from sqlalchemy.orm import joinedload

from leadflow.accounts.models import User
from leadflow.accounts.zones import user_zone
from leadflow.activities.models import LOGGED_KINDS, TASK_KIND_LABELS, Activity, Task
from leadflow.activities.services import can_log_activity, can_manage_task
from leadflow.db import Alongside, Rows, read
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.leads.policy import can_edit_lead
from leadflow.pipeline.models import Stage

TIMELINE_PAGE = 20
SECTION_LIMIT = 100
# Timeline filters: a logged kind, or every entry the app wrote itself.
TIMELINE_FILTERS = {"": "All", "call": "Calls", "email": "Emails", "meeting": "Meetings", "note": "Notes",
                    "system": "System"}
RECENTLY_DONE = timedelta(days=14)


def local_day_bounds(user, now: datetime, days: int = 1) -> tuple[datetime, datetime]:
    """UTC start of the user's local day containing ``now``, and the start ``days`` later."""
    zone = user_zone(user)
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time.min, tzinfo=zone)
    end = datetime.combine(today + timedelta(days=days), time.min, tzinfo=zone)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def _open_tasks_of(user):
    return (db.select(Task).join(Lead, Task.lead_id == Lead.id)
            .options(joinedload(Task.lead), joinedload(Task.assignee))
            .where(Task.assignee_id == user.id, Task.done_at.is_(None), Lead.deleted_at.is_(None))
            .order_by(Task.due_at, Task.id))


def overdue_and_today_tasks(user, now: datetime) -> tuple[list[Task], list[Task]]:
    """The user's open tasks that are overdue (due before ``now``) and those still due
    today, in the user's timezone. Tasks on leads in the trash are left out."""
    _, tomorrow = local_day_bounds(user, now)
    tasks = db.session.scalars(_open_tasks_of(user).where(Task.due_at < tomorrow).limit(SECTION_LIMIT * 2)).all()
    overdue = [t for t in tasks if t.due_at < now]
    today = [t for t in tasks if t.due_at >= now]
    return overdue, today


def upcoming_tasks(user, now: datetime, limit: int = SECTION_LIMIT) -> list[Task]:
    _, tomorrow = local_day_bounds(user, now)
    return list(db.session.scalars(_open_tasks_of(user).where(Task.due_at >= tomorrow).limit(limit)))


def open_task_exists(lead_id_column):
    return exists().where(Task.lead_id == lead_id_column, Task.done_at.is_(None))


def leads_without_next_step(user, limit: int = SECTION_LIMIT) -> list[Lead]:
    """The user's open leads (owned, in an open stage, not in the trash) with no open task."""
    return list(db.session.scalars(
        db.select(Lead).join(Stage, Lead.stage_id == Stage.id)
        .options(joinedload(Lead.organization), joinedload(Lead.stage))
        .where(Lead.owner_id == user.id, Lead.deleted_at.is_(None), Stage.kind == "open",
               ~open_task_exists(Lead.id))
        .order_by(Lead.last_activity_at.is_(None).desc(), Lead.last_activity_at, Lead.id)
        .limit(limit)
    ))


def people_to_pick(viewer) -> list[tuple[int, str]]:
    """Whose work a manager may look at: every active user. Others see only their own."""
    if viewer.role not in ("admin", "manager"):
        return []
    return [tuple(r) for r in db.session.execute(
        db.select(User.id, User.name).where(User.active.is_(True)).order_by(User.name))]


def my_work_context(user, now: datetime, viewer=None) -> dict:
    """The "My work" page for ``user`` as ``viewer`` sees it (a manager may look at someone else's)."""
    viewer = viewer or user
    overdue, today = overdue_and_today_tasks(user, now)
    return {
        "person": user, "is_me": viewer.id == user.id, "now": now, "zone": user_zone(user),
        "overdue": overdue, "today": today, "upcoming": upcoming_tasks(user, now),
        "no_next_step": leads_without_next_step(user),
        "people": people_to_pick(viewer),
        "can_edit": lambda lead: can_edit_lead(viewer, lead),
        "can_manage": lambda task: can_manage_task(viewer, task),
    }


@dataclass
class NextTask:
    """The earliest open task of a lead, as a board card shows it."""

    lead_id: int
    task_id: int
    kind: str
    title: str
    due_at: datetime

    @property
    def kind_label(self) -> str:
        return TASK_KIND_LABELS.get(self.kind, self.kind.title())


def with_next_open_task(query, lead_id):
    """``query`` (a SELECT with a row per lead, ``lead_id`` its lead id column) with each row
    joined to the lead's earliest open task (the first due, the oldest of those due at once),
    whose id, kind, title and due time end each row (None without one): the board reads its
    cards' next tasks in the statement that reads the cards. Each lead's task is picked in the
    index (``ix_tasks_lead_open_due``), then read by its key. The one place "a lead's next
    task" is written."""
    tasks = Task.__table__.alias("open_tasks")  # not the joined ``tasks`` the subquery would correlate to
    earliest = (db.select(tasks.c.id).where(tasks.c.lead_id == lead_id, tasks.c.done_at.is_(None))
                .order_by(tasks.c.due_at, tasks.c.id).limit(1).scalar_subquery())
    return (query.add_columns(Task.id, Task.kind, Task.title, Task.due_at)
            .outerjoin(Task, Task.id == earliest))


# Built once (the ids are an expanding parameter): making the statement anew cost a moved
# card's answer more than running it.
_NEXT_OPEN_TASKS = with_next_open_task(db.select(Lead.id).where(Lead.id.in_(bindparam("lead_ids", expanding=True))),
                                       Lead.id)


def next_open_tasks(lead_ids) -> dict[int, NextTask]:
    """{lead id: its earliest open task} for many leads in ONE query (none for leads without)."""
    lead_ids = list(lead_ids)
    if not lead_ids:
        return {}
    return next_open_tasks_of(db.session.execute(_NEXT_OPEN_TASKS, {"lead_ids": lead_ids}))


def next_open_tasks_alongside(lead_ids) -> Alongside:
    """``next_open_tasks``' query, to be read in the statement of another read (``db.beside``);
    its rows then give the tasks with ``next_open_tasks_of``."""
    return Alongside("next open tasks", _NEXT_OPEN_TASKS, {"lead_ids": list(lead_ids)})


def next_open_tasks_of(rows) -> dict[int, NextTask]:
    """``next_open_tasks``' answer from its query's rows."""
    return {lead_id: NextTask(lead_id, task_id, kind, title, due_at)
            for lead_id, task_id, kind, title, due_at in rows if task_id is not None}


# A lead's open tasks (soonest first), then the ones done since ``done_since`` (``RECENTLY_DONE``
# before now). Values: lead_id, done_since.
LEAD_TASKS = Rows(Task, (Task.lead_id == bindparam("lead_id"),
                         or_(Task.done_at.is_(None), Task.done_at >= bindparam("done_since"))),
                  lambda task: (task.done_at.is_not(None), task.due_at, task.id), joined=("assignee",))


def task_lists(tasks: list[Task]) -> dict:
    """``LEAD_TASKS``' tasks as the lead page's two lists."""
    return {"open_tasks": [t for t in tasks if t.done_at is None],
            "done_tasks": [t for t in tasks if t.done_at is not None]}


def parse_cursor(raw: str | None) -> tuple[datetime, int] | None:
    """``<ISO time>_<id>`` of the last entry shown; None for the first page or a bad value."""
    if not raw or "_" not in raw:
        return None
    stamp, _, ident = raw.rpartition("_")
    try:
        at = datetime.fromisoformat(stamp)
        return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)), int(ident)
    except ValueError:
        return None


def cursor_of(activity: Activity) -> str:
    return f"{activity.occurred_at.astimezone(timezone.utc).isoformat()}_{activity.id}"


@lru_cache(maxsize=None)
def _timeline_rows(filtered: str, paged: bool) -> Rows:
    """A lead's timeline, newest first, keyset-paged on (occurred_at, id): one page and one
    entry more (there is a next page when it comes back). ``filtered``: "" (every entry),
    "kind" (one logged kind), "system" (every entry the app wrote itself); ``paged``: the
    entries after the cursor. Values: lead_id, and kind, at and last_id as they apply."""
    where = [Activity.lead_id == bindparam("lead_id")]
    if filtered == "kind":
        where.append(Activity.kind == bindparam("kind"))
    elif filtered == "system":
        where.append(Activity.kind.not_in(LOGGED_KINDS))
    if paged:
        at, last_id = bindparam("at"), bindparam("last_id")
        where.append(or_(Activity.occurred_at < at, and_(Activity.occurred_at == at, Activity.id < last_id)))
    return Rows(Activity, tuple(where), lambda entry: (entry.occurred_at.desc(), entry.id.desc()),
                TIMELINE_PAGE + 1, joined=("actor",))


def timeline_rows(kind: str, after: tuple[datetime, int] | None = None) -> tuple[Rows, dict]:
    """The Rows of a timeline page showing ``kind`` (a key of ``TIMELINE_FILTERS``) after the
    cursor ``after``, and its values but lead_id."""
    filtered = "kind" if kind in LOGGED_KINDS else "system" if kind == "system" else ""
    values = {"kind": kind} if filtered == "kind" else {}
    if after is not None:
        values.update(at=after[0], last_id=after[1])
    return _timeline_rows(filtered, after is not None), values


def timeline_page_of(entries: list[Activity]) -> tuple[list[Activity], str | None]:
    """``timeline_rows``' entries as one page and the cursor of the next."""
    more = len(entries) > TIMELINE_PAGE
    entries = entries[:TIMELINE_PAGE]
    return entries, (cursor_of(entries[-1]) if more else None)


def timeline_kind_of(kind: str) -> str:
    return kind if kind in TIMELINE_FILTERS else ""


def timeline_context_of(entries: list[Activity], kind: str) -> dict:
    entries, next_cursor = timeline_page_of(entries)
    return {"timeline": entries, "timeline_next": next_cursor, "timeline_kind": kind,
            "timeline_filters": TIMELINE_FILTERS}


def timeline_context(lead: Lead, kind: str = "", after=None) -> dict:
    kind = timeline_kind_of(kind)
    rows, values = timeline_rows(kind, after)
    return timeline_context_of(read(rows, lead_id=lead.id, **values), kind)


def response_summary(lead: Lead, now: datetime) -> dict:
    """Time to first response, or how long the lead has been waiting for one."""
    if lead.first_response_at is not None:
        return {"responded": True, "took": duration_text(lead.first_response_at - lead.created_at)}
    return {"responded": False, "waiting": duration_text(now - lead.created_at)}


def duration_text(delta: timedelta) -> str:
    """A short human span: "45 s", "12 min", "3 h", "2 d 4 h"."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h" + (f" {minutes} min" if minutes and hours < 10 else "")
    days, hours = divmod(seconds // 3600, 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


def default_due(user, now: datetime) -> datetime:
    """A sensible due time for a next step: tomorrow 09:00 in the user's timezone."""
    zone = user_zone(user)
    tomorrow: date = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(9, 0), tzinfo=zone).astimezone(timezone.utc)


def lead_activity_context(lead: Lead, viewer, now: datetime, timeline_kind: str, entries: list[Activity],
                          tasks: list[Task]) -> dict:
    """The timeline, next steps and first-response figure of the lead page, from the timeline's
    ``entries`` (``timeline_rows``) and the lead's ``tasks`` (``LEAD_TASKS``)."""
    return {
        **timeline_context_of(entries, timeline_kind),
        **task_lists(tasks),
        "now": now, "zone": user_zone(viewer),
        "response": response_summary(lead, now),
        "can_log": can_log_activity(viewer, lead),
        "can_manage": lambda task: can_manage_task(viewer, task),
        "next_step_prompt": False,
    }
