"""The morning digest: a user's day by e-mail — their overdue and today's tasks and their
stale leads — at the workspace's digest hour in their own time zone.

One per user per local day (a ``DigestSchedule`` row per user says when the next is due,
and the idempotency key "digest:{user}:{day}" makes it once), none when there is nothing
to report. The sweep takes ``now``, so tests run it at chosen times.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from flask import current_app
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import joinedload

from leadflow.accounts.models import User
from leadflow.accounts.zones import user_zone
from leadflow.activities.queries import overdue_and_today_tasks
from leadflow.extensions import db
from leadflow.governance.settings import get_setting
from leadflow.leads.models import Lead
from leadflow.activities.models import DigestSchedule
from leadflow.mail.services import absolute_url, queue_for, render_mail
from leadflow.pipeline.models import Stage
from leadflow.scheduler.claims import claimed_batches, insert_or_ignore

STALE_LIST_LIMIT = 20


def digest_due_at(user, now: datetime, *, next_day_if_past: bool) -> datetime:
    """The user's digest hour today in their time zone (or tomorrow, once today's has passed)."""
    zone = user_zone(user)
    today = now.astimezone(zone).date()
    moment = datetime.combine(today, time(int(get_setting("digest_hour"))), tzinfo=zone)
    if next_day_if_past and moment <= now:
        moment = datetime.combine(today + timedelta(days=1), time(int(get_setting("digest_hour"))), tzinfo=zone)
    return moment.astimezone(timezone.utc)


def _schedule_new_users(now: datetime) -> None:
    """Every active user gets a digest schedule: first due at today's digest hour (so a user
    added after it gets today's digest straight away)."""
    missing = db.session.scalars(select(User).where(
        User.active.is_(True), ~select(DigestSchedule.user_id).where(DigestSchedule.user_id == User.id).exists()))
    for user in missing:
        insert_or_ignore(DigestSchedule, {"user_id": user.id, "next_due_at": digest_due_at(user, now, next_day_if_past=False)},
                         unique_columns=["user_id"])


def send_digests(now: datetime) -> int:
    _schedule_new_users(now)
    queued = 0
    for ids in claimed_batches(DigestSchedule, due=DigestSchedule.next_due_at <= now,
                               lease_column=DigestSchedule.lease_until, order_by=DigestSchedule.next_due_at,
                               now=now):
        schedules = db.session.scalars(select(DigestSchedule).where(DigestSchedule.user_id.in_(ids))).all()
        users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
        hour = int(get_setting("digest_hour"))
        for schedule in schedules:
            user = users[schedule.user_id]
            local_now = now.astimezone(user_zone(user))
            today = local_now.date().isoformat()
            # After downtime the row may be days overdue: only today's digest is sent, late,
            # and only once it is past the digest hour; a missed earlier day is not sent.
            if user.active and local_now.hour >= hour and schedule.last_sent_on != today:
                queued += _send_digest(user, now, local_now.date())
                schedule.last_sent_on = today
            schedule.next_due_at = digest_due_at(user, now, next_day_if_past=True)
            schedule.lease_until = None
        db.session.flush()
    return queued


def stale_leads(user, now: datetime, limit: int = STALE_LIST_LIMIT) -> tuple[list[Lead], int]:
    """The user's open leads untouched for ``stale_after_days`` or past their stage's rotting
    days; the first ``limit`` (longest untouched first) and how many there are."""
    cutoff = now - timedelta(days=int(get_setting("stale_after_days")))
    last_touch = func.coalesce(Lead.last_activity_at, Lead.created_at)
    open_stages = db.session.execute(select(Stage.id, Stage.rotting_days).where(Stage.kind == "open")).all()
    rotting = [and_(Lead.stage_id == stage_id, Lead.stage_entered_at < now - timedelta(days=days))
               for stage_id, days in open_stages if days]
    condition = and_(
        Lead.owner_id == user.id, Lead.deleted_at.is_(None),
        Lead.lifecycle.not_in(("customer", "disqualified")),
        or_(Lead.stage_id.is_(None), Lead.stage_id.in_([stage_id for stage_id, _ in open_stages])),
        or_(last_touch < cutoff, *rotting),
    )
    leads = db.session.scalars(select(Lead).where(condition).options(joinedload(Lead.stage))
                               .order_by(last_touch, Lead.id).limit(limit)).all()
    total = len(leads) if len(leads) < limit else db.session.scalar(select(func.count(Lead.id)).where(condition))
    return list(leads), total


def _send_digest(user: User, now: datetime, local_day: date) -> int:
    overdue, today = overdue_and_today_tasks(user, now)
    stale, stale_total = stale_leads(user, now)
    if not (overdue or today or stale):
        return 0  # nothing to report: no e-mail
    counts = [f"{len(overdue)} overdue" if overdue else "", f"{len(today)} due today" if today else "",
              f"{stale_total} stale lead{'s' if stale_total != 1 else ''}" if stale else ""]
    subject = f"Your day, {local_day:%a %d %b}: " + ", ".join(c for c in counts if c)
    zone = user_zone(user)
    mail = render_mail("digest", subject, user=user, day=local_day, overdue=overdue, today=today,
                       stale=stale, stale_total=stale_total, stale_days=int(get_setting("stale_after_days")),
                       zone=zone, now=now, lead_link=lambda lead_id: absolute_url("leads.detail", lead_id=lead_id),
                       my_work=_my_work_link())
    return queue_for(user, kind="digest", mail=mail, idempotency_key=f"digest:{user.id}:{local_day.isoformat()}",
                     now=now)


def _my_work_link() -> str | None:
    """The "My work" page (every task of the user), when this app has it."""
    return absolute_url("activities.my_work") if "activities.my_work" in current_app.view_functions else None


def plan_again() -> None:
    """The digest hour changed: each user's next digest is worked out again at the new hour
    by the next sweep (still one a day: the outbox keeps one digest per user and local day)."""
    db.session.execute(db.delete(DigestSchedule))


def register_settings(on_change) -> None:
    """What this area does when a setting changes (``leadflow.wiring.listen_to_settings``)."""
    on_change("digest_hour", plan_again)


def register_sweeps(add) -> None:
    """This area's periodic work, for the scheduler (``leadflow.wiring.schedule``)."""
    add("digests", every_seconds=30, func=send_digests)
