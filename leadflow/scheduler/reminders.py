"""Reminders and alerts: sweeps that turn due rows into outbox messages, exactly once.

Each sweep claims due rows (a lease, see ``claims.py``), queues its messages with a
deterministic idempotency key and marks the rows done in the same transaction, then
commits; the outbox sweep is then asked to run at once (``enqueue_mail``). Every sweep
takes ``now``, so tests run them at chosen times.

* Task due: tasks with ``remind_at <= now`` → the assignee ("task-due:{id}:{remind_at}").
* New-lead alert: when a lead arrives by a form or the API and has an owner, the owner
  hears of it in the transaction that created the lead (an arrival step).
* Speed-to-lead and escalation: an arrival step writes two ``LeadAlert`` rows; when one
  falls due and nobody has responded (``Lead.first_response_at``), the owner (speed to
  lead) or every active manager and admin (escalation) is alerted. A lead answered in
  time completes its rows silently.
* Morning digest: at the workspace's digest hour in each user's own time zone, their
  overdue and today's tasks and their stale leads; one per user per local day, none
  when there is nothing to report.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone

from flask import current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import joinedload

from leadflow.accounts.models import User
from leadflow.activities.models import Task
from leadflow.activities.queries import overdue_and_today_tasks
from leadflow.web.formatting import zone_of
from leadflow.db import utcnow
from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.governance.settings import get_setting
from leadflow.leads import events
from leadflow.leads.events import Bus, load_leads
from leadflow.leads.models import Lead
from leadflow.mail.models import DigestSchedule, LeadAlert
from leadflow.mail.services import absolute_url, enqueue_mail, render_mail
from leadflow.pipeline.models import Stage
from leadflow.scheduler.claims import claim_due, insert_or_ignore
from leadflow.scheduler.registry import register_sweep

log = logging.getLogger(__name__)

BATCH_SIZE = 50
LEASE_SECONDS = 120
ALERT_CHANNELS = ("form", "api")  # a new-lead e-mail for leads nobody on the team typed in
SPEED_TO_LEAD_CHANNELS = ("manual", "form", "api")  # imports are old leads, not fresh enquiries
STALE_LIST_LIMIT = 20


def queue_for(user: User, *, kind: str, mail, idempotency_key: str, lead_id: int | None = None,
              now: datetime | None = None) -> int:
    """Queue a message to ``user``; 1 if queued, 0 if it already was or the address is unusable
    (logged: one bad address must not stop the sweep for everyone else)."""
    try:
        return int(enqueue_mail(to=user.email, kind=kind, mail=mail, idempotency_key=idempotency_key,
                                user_id=user.id, lead_id=lead_id, now=now) is not None)
    except ValidationFailed:
        log.warning("No %s e-mail for user %s: their address cannot receive mail", kind, user.id)
        return 0


def _claimed_batches(model, *, due, lease_column, order_by, now):
    """Claim batches of due rows until none are left; yields the claimed ids of each batch.
    The caller handles a batch and the next claim commits it (after the last one, the caller commits)."""
    while True:
        claim = claim_due(model, due=due, lease_column=lease_column, now=now, lease_seconds=LEASE_SECONDS,
                          limit=BATCH_SIZE, order_by=order_by)
        if not claim:
            db.session.commit()
            return
        yield claim.ids
        db.session.commit()
        if len(claim.ids) < BATCH_SIZE:
            return


# --- task due ----------------------------------------------------------------------

@register_sweep("task_reminders", every_seconds=15)
def send_task_reminders(now: datetime) -> int:
    queued = 0
    for ids in _claimed_batches(Task, due=and_(Task.remind_at.is_not(None), Task.remind_at <= now),
                                lease_column=Task.reminder_lease_until, order_by=Task.remind_at, now=now):
        tasks = db.session.scalars(select(Task).where(Task.id.in_(ids))
                                   .options(joinedload(Task.lead), joinedload(Task.assignee))).all()
        for task in tasks:
            queued += _remind_assignee(task, now)
        # Done in the claiming transaction: each due time is reminded once. A plain UPDATE, so a
        # user editing the task meanwhile does not see a version conflict.
        db.session.execute(update(Task.__table__).where(Task.id.in_(ids))
                           .values(remind_at=None, reminder_lease_until=None))
    return queued


def _remind_assignee(task: Task, now: datetime) -> int:
    assignee, lead = task.assignee, task.lead
    if task.done_at is not None or assignee is None or not assignee.active or lead is None or lead.deleted_at:
        return 0
    mail = render_mail("task_reminder", f"Due: {task.title} ({lead.name})", task=task, lead=lead, user=assignee,
                       overdue=task.due_at < now,
                       link=absolute_url("leads.detail", lead_id=lead.id))
    key = f"task-due:{task.id}:{task.remind_at.isoformat()}"
    return queue_for(assignee, kind="task_reminder", mail=mail, idempotency_key=key, lead_id=lead.id, now=now)


# --- a new lead arrives ------------------------------------------------------------------

def _lead_facts(lead: Lead) -> list[tuple[str, str]]:
    facts = [("Email", lead.email), ("Phone", lead.phone), ("Title", lead.title),
             ("Organization", lead.organization.name if lead.organization else None),
             ("Source", lead.source), ("Campaign", lead.utm_campaign)]
    return [(label, value) for label, value in facts if value]


def alert_owners_of_new_leads(ids: list[int], channel: str) -> None:
    """Leads from a form or the API with an owner: e-mail each owner now."""
    if channel not in ALERT_CHANNELS:
        return  # typed in by someone on the team (who knows), or imported (old leads)
    via = "a web form" if channel == "form" else "the API"
    for lead in load_leads(ids):
        owner = db.session.get(User, lead.owner_id) if lead.owner_id is not None else None
        if owner is None or not owner.active:
            continue
        mail = render_mail("new_lead_alert", f"New lead: {lead.name}", lead=lead, user=owner, via=via,
                           facts=_lead_facts(lead), link=absolute_url("leads.detail", lead_id=lead.id))
        queue_for(owner, kind="new_lead_alert", mail=mail, idempotency_key=f"new-lead:{lead.id}", lead_id=lead.id)


def schedule_speed_to_lead(ids: list[int], channel: str) -> None:
    """Two due rows per new lead: a speed-to-lead alert to the owner, then an escalation."""
    if channel not in SPEED_TO_LEAD_CHANNELS:
        return  # imports are old leads, a merge's survivor was there before
    minutes = {kind: int(get_setting(setting)) for kind, setting in (
        ("speed_to_lead", "speed_to_lead_minutes"), ("escalation", "escalate_after_minutes"))}
    for lead_id, created_at in db.session.execute(select(Lead.id, Lead.created_at).where(Lead.id.in_(ids))).all():
        arrived = created_at or utcnow()
        for kind, after in minutes.items():
            insert_or_ignore(LeadAlert, {"kind": kind, "lead_id": lead_id, "due_at": arrived + timedelta(minutes=after),
                                         "created_at": arrived}, unique_columns=["kind", "lead_id"])


def register(bus: Bus) -> None:
    """New-lead alerts and speed-to-lead timers start after routing has chosen the owner."""
    bus.on(events.ARRIVED, alert_owners_of_new_leads, order=50)
    bus.on(events.ARRIVED, schedule_speed_to_lead, order=50)


@register_sweep("lead_alerts", every_seconds=15)
def send_lead_alerts(now: datetime) -> int:
    queued = 0
    for ids in _claimed_batches(LeadAlert, due=and_(LeadAlert.done_at.is_(None), LeadAlert.due_at <= now),
                                lease_column=LeadAlert.lease_until, order_by=LeadAlert.due_at, now=now):
        alerts = db.session.scalars(select(LeadAlert).where(LeadAlert.id.in_(ids))).all()
        leads = {lead.id: lead for lead in db.session.scalars(
            select(Lead).where(Lead.id.in_({a.lead_id for a in alerts})).options(joinedload(Lead.owner)))}
        managers = None
        for alert in alerts:
            lead = leads.get(alert.lead_id)
            if lead is None or lead.deleted_at is not None:
                alert.outcome = "skipped"
            elif lead.first_response_at is not None:
                alert.outcome = "answered"  # touched in time: nothing to say
            else:
                if alert.kind == "speed_to_lead":
                    recipients = [lead.owner] if lead.owner else []
                else:
                    if managers is None:
                        managers = db.session.scalars(select(User).where(
                            User.active.is_(True), User.role.in_(("manager", "admin"))).order_by(User.id)).all()
                    recipients = managers
                sent = _alert(alert, lead, [u for u in recipients if u.active], now)
                alert.outcome = "alerted" if sent else "skipped"
                queued += sent
            alert.done_at, alert.lease_until = now, None
        db.session.flush()
    return queued


def _alert(alert: LeadAlert, lead: Lead, recipients: list[User], now: datetime) -> int:
    waited = now - lead.created_at
    minutes = max(1, int(waited.total_seconds() // 60))
    if alert.kind == "speed_to_lead":
        subject = f"No response yet: {lead.name} arrived {minutes} min ago"
    else:
        owner = lead.owner.name if lead.owner else "nobody (unassigned)"
        subject = f"Escalation: {lead.name} has waited {minutes} min (owner: {owner})"
    sent = 0
    for user in recipients:
        mail = render_mail(alert.kind, subject, lead=lead, user=user, minutes=minutes, facts=_lead_facts(lead),
                           link=absolute_url("leads.detail", lead_id=lead.id))
        key = f"{alert.kind}:{lead.id}" if alert.kind == "speed_to_lead" else f"escalation:{lead.id}:{user.id}"
        sent += queue_for(user, kind=alert.kind, mail=mail, idempotency_key=key, lead_id=lead.id, now=now)
    return sent


# --- morning digest ------------------------------------------------------------------

def digest_due_at(user, now: datetime, *, next_day_if_past: bool) -> datetime:
    """The user's digest hour today in their time zone (or tomorrow, once today's has passed)."""
    zone = zone_of(user)
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


@register_sweep("digests", every_seconds=30)
def send_digests(now: datetime) -> int:
    _schedule_new_users(now)
    queued = 0
    for ids in _claimed_batches(DigestSchedule, due=DigestSchedule.next_due_at <= now,
                                lease_column=DigestSchedule.lease_until, order_by=DigestSchedule.next_due_at,
                                now=now):
        schedules = db.session.scalars(select(DigestSchedule).where(DigestSchedule.user_id.in_(ids))).all()
        users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
        hour = int(get_setting("digest_hour"))
        for schedule in schedules:
            user = users[schedule.user_id]
            local_now = now.astimezone(zone_of(user))
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
    zone = zone_of(user)
    mail = render_mail("digest", subject, user=user, day=local_day, overdue=overdue, today=today,
                       stale=stale, stale_total=stale_total, stale_days=int(get_setting("stale_after_days")),
                       zone=zone, now=now, lead_link=lambda lead_id: absolute_url("leads.detail", lead_id=lead_id),
                       my_work=_my_work_link())
    return queue_for(user, kind="digest", mail=mail, idempotency_key=f"digest:{user.id}:{local_day.isoformat()}",
                     now=now)


def _my_work_link() -> str | None:
    """The "My work" page (every task of the user), when this app has it."""
    return absolute_url("activities.my_work") if "activities.my_work" in current_app.view_functions else None
