"""The sequence sweep, and the exit triggers that listen to lead events.

Each sweep claims due enrolments (``next_run_at <= now`` in an active sequence) with a lease
and runs the current step of each, once, in the same transaction that moves the enrolment
on. After a step the lease is left at the sweep's ``now``: the enrolment is free again for
the *next* sweep, never for the rest of this one, so an app that was down catches up one
step per sweep per enrolment instead of sending a burst. A wait step counts from when it
runs, so the spacing between messages is kept after downtime too.
"""

from __future__ import annotations

import html
import logging
import re
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select

from leadflow.activities.models import Task
from leadflow.extensions import db
from leadflow.leads import events
from leadflow.leads.events import Bus, load_leads
from leadflow.mail.services import RenderedMail, enqueue_mail
from leadflow.pipeline.models import Stage
from leadflow.scheduler.claims import claim_due
from leadflow.sequences.links import click_url, is_web_url, open_pixel_url, unsubscribe_url
from leadflow.sequences.models import Enrollment, Sequence, SequenceMessage
from leadflow.sequences.queries import sequence_exits
from leadflow.sequences.services import enrolled_lead_ids, exit_lead_enrollments, finish, record_event
from leadflow.sequences.templates import TemplateError, can_send_marketing, render_for_lead
from leadflow.web import refcache

log = logging.getLogger(__name__)

BATCH_SIZE = 50
MAX_BATCHES_PER_RUN = 20
LEASE_SECONDS = 300
_HREF = re.compile(r'href="([^"]*)"')


def run_sequences(now: datetime) -> int:
    """Run the due step of each due enrolment; returns how many steps ran. Commits per batch."""
    ran = 0
    due = and_(Enrollment.state == "active", Enrollment.next_run_at <= now,
               Enrollment.sequence_id.in_(select(Sequence.id).where(Sequence.active.is_(True))))
    for _ in range(MAX_BATCHES_PER_RUN):
        claim = claim_due(Enrollment, due=due, lease_column=Enrollment.lease_until, now=now,
                          lease_seconds=LEASE_SECONDS, limit=BATCH_SIZE, order_by=Enrollment.next_run_at)
        for enrollment_id in claim.ids:
            try:
                with db.session.begin_nested():
                    run_step(db.session.get(Enrollment, enrollment_id), now)
                ran += 1
            except Exception:  # this enrolment is retried when its lease runs out; the others go on
                log.exception("Sequence step of enrolment %s failed", enrollment_id)
        db.session.commit()
        if len(claim.ids) < BATCH_SIZE:
            break
    return ran


def run_step(enrollment: Enrollment, now: datetime) -> None:
    lead, steps = enrollment.lead, enrollment.sequence.steps
    enrollment.lease_until = now  # free for the next sweep, not for the rest of this one
    if lead is None or lead.deleted_at is not None:
        finish(enrollment, "exited", "lead_deleted", now)
        return
    if enrollment.step_index < len(steps):
        step = steps[enrollment.step_index]
        next_run_at = now
        if step.kind == "send":
            if not can_send_marketing(lead):
                reason = "unsubscribed" if lead.unsubscribed_at else ("no_email" if not lead.email else "no_consent")
                finish(enrollment, "exited", reason, now)
                return
            if step.template is not None:
                try:
                    send_step_email(enrollment, step.template, now)
                except TemplateError:  # saved before the editor checked it: stop rather than retry forever
                    log.warning("Enrolment %s: template %s cannot be rendered", enrollment.id, step.template_id)
                    finish(enrollment, "exited", "template_broken", now)
                    return
        elif step.kind == "wait":
            unit = "hours" if step.wait_unit == "hours" else "days"
            next_run_at = now + timedelta(**{unit: step.wait_amount or 0})
        else:
            db.session.add(Task(lead_id=lead.id, kind="todo", title=step.task_title or "Follow up",
                                notes=f"From the sequence “{enrollment.sequence.name}”.", due_at=now, remind_at=now,
                                assignee_id=lead.owner_id, created_by_id=None))
        enrollment.step_index += 1
        enrollment.next_run_at = next_run_at
    if enrollment.step_index >= len(steps) and enrollment.next_run_at <= now:
        finish(enrollment, "completed", None, now)
        enrollment.lease_until = now
    db.session.flush()


def send_step_email(enrollment: Enrollment, template, now: datetime) -> int | None:
    lead = enrollment.lead
    subject, text, body = render_for_lead(template, lead)
    message = SequenceMessage(enrollment_id=enrollment.id, lead_id=lead.id, step_index=enrollment.step_index,
                              subject=subject, sent_at=now)
    db.session.add(message)
    db.session.flush()
    unsubscribe = unsubscribe_url(lead.id)
    if unsubscribe not in text:
        text = f"{text.rstrip()}\n\n--\nUnsubscribe: {unsubscribe}\n"
    html_body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(subject)}</title>'
                 f'</head><body>{track_links(body, message.id)}'
                 f'<p style="font-size:12px;color:#7b8794;"><a href="{html.escape(unsubscribe)}">Unsubscribe</a></p>'
                 f'<img src="{html.escape(open_pixel_url(message.id))}" width="1" height="1" alt=""></body></html>')
    outbox_id = enqueue_mail(to=lead.email, kind="sequence", mail=RenderedMail(subject, text, html_body),
                             idempotency_key=f"seq:{enrollment.id}:{enrollment.step_index}", lead_id=lead.id,
                             now=now, list_unsubscribe=unsubscribe)
    record_event(lead, "sequence_email", subject, now=now,
                 details={"sequence_id": enrollment.sequence_id, "enrollment_id": enrollment.id,
                          "step": enrollment.step_index, "message_id": message.id})
    return outbox_id


def track_links(body: str, message_id: int) -> str:
    """Point every web link of an HTML body at the click tracker (the original address rides
    inside the signed token)."""
    def rewrite(match: re.Match) -> str:
        url = html.unescape(match.group(1))
        if not is_web_url(url):
            return match.group(0)
        return f'href="{html.escape(click_url(message_id, url))}"'

    return _HREF.sub(rewrite, body)


# --- exit triggers ------------------------------------------------------------------------

def exit_on_reply(lead, actor, activity=None):
    if activity is None:
        return
    if (activity.kind == "email" and activity.actor_id is not None) or activity.outcome == "replied":
        exit_lead_enrollments(lead, "replied", when=lambda sequence: sequence.exit_on_reply)


def exit_on_stage_change(ids, actor, from_id=None, to_id=None):
    stage = db.session.get(Stage, to_id) if to_id is not None else None
    won_or_lost = stage is not None and stage.kind in ("won", "lost")
    on_stage_change, on_won_lost = sequence_exits()
    if not (on_stage_change or (won_or_lost and on_won_lost)):
        return  # no sequence ends on this move (the common case): no enrolment to look up
    enrolled = enrolled_lead_ids(ids)
    if not enrolled:
        return  # most moved leads are in no sequence: nothing to load
    for lead in load_leads(enrolled):
        if won_or_lost:
            exit_lead_enrollments(lead, "won_lost", when=lambda sequence: sequence.exit_on_won_lost)
        exit_lead_enrollments(lead, "stage_changed", when=lambda sequence: sequence.exit_on_stage_change)


def lowest_exit_score() -> int | None:
    """The lowest score at which any sequence lets a lead go (kept for the process,
    ``refcache``): a score below it ends no enrolment, and nothing needs to be read."""
    return refcache.cached(("sequences",), "lowest exit score", lambda: db.session.scalar(
        select(func.min(Sequence.exit_score_at_least))))


def exit_on_score(changes: list[events.ScoreChange], actor):
    lowest = lowest_exit_score()
    if lowest is None:
        return  # the common case: no sequence ends at any score
    for lead, _, new in changes:
        if new is None or new < lowest:
            continue  # no sequence ends at this score
        events.isolated(exit_lead_enrollments, f"Sequence exits on lead {lead.id}'s score", lead, "score_reached",
                        when=lambda sequence, new=new: (
                            sequence.exit_score_at_least is not None and new >= sequence.exit_score_at_least))


def register(bus: Bus) -> None:
    """A sequence ends for a lead that replies, moves stage (or is won or lost) or reaches
    its exit score, whichever way that came about."""
    bus.on(events.ACTIVITY_ADDED, exit_on_reply)
    bus.on(events.MOVED, exit_on_stage_change)
    bus.on(events.SCORE_CHANGED, exit_on_score)


def register_sweeps(add) -> None:
    """This area's periodic work, for the scheduler (``leadflow.wiring.schedule``)."""
    add("sequences", every_seconds=60, func=run_sequences)
