"""Task reminders: a task whose ``remind_at`` has come e-mails its assignee, exactly once.

The sweep claims due tasks (a lease, see ``leadflow.scheduler.claims``), queues each
reminder with a deterministic idempotency key ("task-due:{id}:{remind_at}") and clears
``remind_at`` in the same transaction, then commits. It takes ``now``, so tests run it at
chosen times.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, select, update
from sqlalchemy.orm import joinedload

from leadflow.activities.models import Task
from leadflow.extensions import db
from leadflow.mail.services import absolute_url, queue_for, render_mail
from leadflow.scheduler.claims import claimed_batches


def send_task_reminders(now: datetime) -> int:
    queued = 0
    for ids in claimed_batches(Task, due=and_(Task.remind_at.is_not(None), Task.remind_at <= now),
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


def register_sweeps(add) -> None:
    """This area's periodic work, for the scheduler (``leadflow.wiring.schedule``)."""
    add("task_reminders", every_seconds=15, func=send_task_reminders)
