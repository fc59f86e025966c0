"""Logging activities, managing tasks and the calendar feed. Services flush; the caller commits."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, or_
from sqlalchemy.orm import joinedload

from leadflow.accounts.models import User
from leadflow.accounts.services import WRITER_ROLES, menu_users
from leadflow.activities.models import (
    CALL_OUTCOMES, HUMAN_TOUCH_KINDS, LOGGED_KINDS, TASK_KIND_LABELS, TASK_KINDS, Activity, CalendarFeed, Task,
)
from leadflow.accounts.zones import user_zone
from leadflow.db import parse_id, utcnow
from leadflow.errors import NotFound, PermissionDenied, ValidationFailed, VersionConflict
from leadflow.extensions import db
from leadflow.leads import events, store
from leadflow.leads.models import Lead
from leadflow.leads.policy import can_edit_lead

MAX_DURATION_MINUTES = 24 * 60
DUE_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S")


# --- who may do what -------------------------------------------------------------------

def can_log_activity(actor, lead: Lead) -> bool:
    return can_edit_lead(actor, lead)


def can_manage_task(actor, task: Task) -> bool:
    """Writers manage tasks on leads they may edit, and any task assigned to them."""
    if actor is None or not getattr(actor, "can_write", False):
        return False
    return can_edit_lead(actor, task.lead) or task.assignee_id == actor.id


def _require_live(lead: Lead) -> None:
    if lead.deleted_at is not None:
        raise NotFound("This lead is in the trash. Restore it first.")


# --- activities --------------------------------------------------------------------------

def _line(value, limit: int) -> str:
    """One line of text: runs of white space (newlines too) become one space."""
    return " ".join(str(value or "").split())[:limit]


def _block(value, limit: int) -> str:
    """Free text: line breaks kept, surrounding white space trimmed."""
    return str(value or "").replace("\r\n", "\n").strip()[:limit]


def clean_activity_input(data: dict) -> dict:
    """Check what a person typed into the log form; raise ValidationFailed with messages per field."""
    errors: dict[str, list[str]] = {}
    kind = data.get("kind") or ""
    if kind not in LOGGED_KINDS:
        errors["kind"] = ["Choose call, email, meeting or note."]
    subject = _line(data.get("subject"), 200)
    body = _block(data.get("body"), 10_000)
    outcome = (data.get("outcome") or "").strip() or None
    duration = None
    raw_duration = str(data.get("duration_minutes") or "").strip()
    if kind == "call":
        if outcome not in CALL_OUTCOMES:
            errors["outcome"] = ["Choose how the call went."]
    else:
        outcome = None
    if raw_duration and kind in ("call", "meeting"):
        try:
            duration = int(raw_duration)
        except ValueError:
            errors["duration_minutes"] = ["Enter the duration as a whole number of minutes, such as 15."]
        else:
            if duration < 0:
                errors["duration_minutes"] = ["The duration cannot be negative."]
            elif duration > MAX_DURATION_MINUTES:
                errors["duration_minutes"] = ["Enter at most 1440 minutes (one day)."]
    if kind in ("note", "email") and not (body or subject):
        errors["body"] = ["Write what the note says." if kind == "note" else "Enter a subject or what was written."]
    if errors:
        raise ValidationFailed(errors)
    return {"kind": kind, "subject": subject or None, "body": body or None, "outcome": outcome,
            "duration_seconds": None if duration is None else duration * 60}


def touch_lead(lead: Lead, at: datetime, *, human_touch: bool) -> None:
    """Stamp the lead's last activity (and its first response, once, for a human touch).

    Written as one UPDATE that does not bump the lead's version: logging a call must not
    make someone's open inline editor or a board drag on the same lead fail as a conflict.
    """
    values = {"last_activity_at": at}
    if human_touch:
        values["first_response_at"] = func.coalesce(Lead.__table__.c.first_response_at, at)
    store.update_columns([lead.id], values, None)


def log_activity(actor, lead: Lead, data: dict, *, now: datetime | None = None) -> Activity:
    """Log a call, email, meeting or note a person had with the lead."""
    _require_live(lead)
    if not can_log_activity(actor, lead):
        raise PermissionDenied("You can only log activities on leads you own or unassigned leads.")
    values = clean_activity_input(data)
    now = now or utcnow()
    activity = Activity(lead_id=lead.id, actor_id=actor.id, occurred_at=now, **values)
    db.session.add(activity)
    db.session.flush()
    touch_lead(lead, now, human_touch=values["kind"] in HUMAN_TOUCH_KINDS)
    events.activity_added(lead, actor, activity)
    return activity


# --- tasks -------------------------------------------------------------------------------

def parse_local_due(raw, zone, field: str = "due") -> datetime:
    """A date-time typed in the user's timezone (as a datetime-local input sends it), in UTC."""
    text = str(raw or "").strip()
    if not text:
        raise ValidationFailed({field: ["Enter when it is due."]})
    for fmt in DUE_FORMATS:
        try:
            local = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if not 2000 <= local.year <= 2200:
            break
        return local.replace(tzinfo=zone).astimezone(timezone.utc)
    raise ValidationFailed({field: ["Enter the due date and time as YYYY-MM-DD HH:MM, such as 2025-03-14 09:30."]})


def assignable_users() -> list[tuple[int, str]]:
    """People a task can be given to: active users who can work on leads."""
    return [(u.id, u.name) for u in menu_users(roles=WRITER_ROLES)]


def default_assignee_id(actor, lead: Lead) -> int | None:
    return lead.owner_id or getattr(actor, "id", None)


def _resolve_assignee(raw, actor, lead: Lead, errors: dict) -> int | None:
    text = str(raw or "").strip()
    if not text:
        return default_assignee_id(actor, lead)
    if parse_id(text) in {uid for uid, _ in assignable_users()}:
        return parse_id(text)
    errors["assignee_id"] = ["Choose someone from the list."]
    return None


def create_task(actor, lead: Lead, data: dict) -> Task:
    """A next step on the lead. The due time is read in the actor's timezone."""
    _require_live(lead)
    if not can_edit_lead(actor, lead):
        raise PermissionDenied("You can only add tasks to leads you own or unassigned leads.")
    errors: dict[str, list[str]] = {}
    kind = data.get("kind") or "todo"
    if kind not in TASK_KINDS:
        errors["kind"] = ["Choose call, email, meeting or to-do."]
    title = _line(data.get("title"), 200)
    if not title:
        errors["title"] = ["Say what the next step is, such as “Call about the proposal”."]
    due_at = None
    try:
        due_at = parse_local_due(data.get("due"), user_zone(actor))
    except ValidationFailed as exc:
        errors.update(exc.errors)
    assignee_id = _resolve_assignee(data.get("assignee_id"), actor, lead, errors)
    if errors:
        raise ValidationFailed(errors)
    task = Task(lead_id=lead.id, lead=lead, kind=kind, title=title, notes=_block(data.get("notes"), 5000) or None,
                due_at=due_at, remind_at=due_at, assignee_id=assignee_id, created_by_id=actor.id)
    db.session.add(task)
    db.session.flush()
    return task


def _check_task(actor, task: Task, expected_version: int | None) -> None:
    _require_live(task.lead)
    if not can_manage_task(actor, task):
        raise PermissionDenied("You can only change tasks on your own leads or tasks given to you.")
    if expected_version is not None and expected_version != task.version:
        raise VersionConflict(task)


def _task_activity(actor, task: Task, kind: str, at: datetime) -> Activity:
    label = TASK_KIND_LABELS.get(task.kind, task.kind.title())
    activity = Activity(lead_id=task.lead_id, kind=kind, actor_id=actor.id, occurred_at=at,
                        subject=f"{label}: {task.title}", details={"task_id": task.id})
    db.session.add(activity)
    return activity


def complete_task(actor, task: Task, *, expected_version: int | None = None, now: datetime | None = None) -> bool:
    """Mark the task done (no more reminders) and note it on the timeline. False if it already was."""
    _check_task(actor, task, expected_version)
    if task.done_at is not None:
        return False
    now = now or utcnow()
    task.done_at, task.done_by_id, task.remind_at, task.reminder_lease_until = now, actor.id, None, None
    _task_activity(actor, task, "task_completed", now)
    db.session.flush()
    touch_lead(task.lead, now, human_touch=False)
    return True


def reopen_task(actor, task: Task, *, expected_version: int | None = None, now: datetime | None = None) -> bool:
    _check_task(actor, task, expected_version)
    if task.done_at is None:
        return False
    task.done_at, task.done_by_id, task.remind_at = None, None, task.due_at
    _task_activity(actor, task, "task_reopened", now or utcnow())
    db.session.flush()
    return True


def reschedule_task(actor, task: Task, due_raw, *, expected_version: int | None = None) -> bool:
    """Move the due time (typed in the actor's timezone); an open task is reminded again then."""
    _check_task(actor, task, expected_version)
    due_at = parse_local_due(due_raw, user_zone(actor))
    if due_at == task.due_at:
        return False
    task.due_at = due_at
    if task.done_at is None:
        task.remind_at, task.reminder_lease_until = due_at, None
    db.session.flush()
    return True


# --- calendar feed -----------------------------------------------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_calendar_token(user) -> str:
    """A new secret feed address for ``user``; any earlier one stops working. Returns the
    token in full: it is shown once and only its hash is kept."""
    token = secrets.token_urlsafe(32)
    feed = db.session.scalar(db.select(CalendarFeed).where(CalendarFeed.user_id == user.id))
    if feed is None:
        feed = CalendarFeed(user_id=user.id)
        db.session.add(feed)
    feed.token_hash, feed.created_at = _token_hash(token), utcnow()
    db.session.flush()
    return token


def revoke_calendar_feed(user) -> bool:
    feed = db.session.scalar(db.select(CalendarFeed).where(CalendarFeed.user_id == user.id))
    if feed is None:
        return False
    db.session.delete(feed)
    db.session.flush()
    return True


def calendar_feed_of(user) -> CalendarFeed | None:
    return db.session.scalar(db.select(CalendarFeed).where(CalendarFeed.user_id == user.id))


def user_for_calendar_token(token: str) -> User | None:
    """The active user whose feed this token opens, or None (wrong, revoked, deactivated)."""
    if not token or len(token) > 200:
        return None
    user = db.session.scalar(db.select(User).join(CalendarFeed, CalendarFeed.user_id == User.id)
                             .where(CalendarFeed.token_hash == _token_hash(token)))
    return user if user is not None and user.active else None


def calendar_tasks(user, now: datetime) -> list[Task]:
    """What the feed lists: the user's open tasks and the ones done in the last 30 days."""
    return list(db.session.scalars(
        db.select(Task).join(Lead, Task.lead_id == Lead.id).options(joinedload(Task.lead))
        .where(Task.assignee_id == user.id, Lead.deleted_at.is_(None),
               or_(Task.done_at.is_(None), Task.done_at >= now - timedelta(days=30)))
        .order_by(Task.due_at, Task.id).limit(2000)
    ))
