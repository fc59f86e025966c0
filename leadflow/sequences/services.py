"""Templates, sequences and enrolments: every change goes through here.

Who may do what: managers and admins edit templates and sequences; anyone who may edit a
lead may enrol it (``enroll``); automation enrols as a named system actor. Nothing here commits.

Exit triggers, decided once for every sequence:

* **reply** (``exit_on_reply``): a person logs an *email* activity on the lead (in either
  direction, since once someone writes to the lead by hand the automated nurture stops) or any
  activity with the outcome ``replied``;
* **stage changed** (``exit_on_stage_change``): any move to another stage;
* **won/lost** (``exit_on_won_lost``): a move to a stage of kind won or lost;
* **score reached** (``exit_score_at_least``): the score rises to at least N;
* **unsubscribed / consent withdrawn**: always; the lead is never e-mailed again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from leadflow.activities.models import Activity
from leadflow.db import get_by_id, utcnow
from leadflow.errors import NotFound, PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.leads import events, store
from leadflow.leads.models import Lead
from leadflow.leads.policy import can_edit_lead
from leadflow.sequences.models import (
    STEP_KINDS, WAIT_UNITS, EmailTemplate, Enrollment, Sequence, SequenceStep,
)
from leadflow.accounts.system import system_actor
from leadflow.governance.audit import record_changes
from leadflow.sequences.templates import can_send_marketing, check_syntax

MAX_WAIT = {"days": 365, "hours": 24 * 365}


def can_manage_sequences(actor) -> bool:
    return bool(actor and getattr(actor, "is_authenticated", False) and actor.role in ("admin", "manager"))


def _require_manager(actor) -> None:
    if not can_manage_sequences(actor):
        raise PermissionDenied("Only managers and admins can change templates and sequences.")


def _line(value, limit: int) -> str:
    return " ".join(str(value or "").split())[:limit]


# --- templates -----------------------------------------------------------------------------

def _clean_template(data: dict) -> dict:
    errors: dict[str, list[str]] = {}
    name = _line(data.get("name"), 120)
    subject = _line(data.get("subject"), 200)
    body = str(data.get("body") or "").replace("\r\n", "\n").strip()
    if not name:
        errors["name"] = ["Give the template a name, such as “Welcome”."]
    if not subject:
        errors["subject"] = ["Enter the subject line."]
    elif problem := check_syntax(subject):
        errors["subject"] = [f"The subject does not read as a template: {problem}"]
    if not body:
        errors["body"] = ["Write the message."]
    elif len(body) > 20_000:
        errors["body"] = ["Keep the message under 20,000 characters."]
    elif problem := check_syntax(body):
        errors["body"] = [f"The message does not read as a template: {problem}"]
    if errors:
        raise ValidationFailed(errors)
    return {"name": name, "subject": subject, "body": body}


def _create(actor, model, clean, data: dict):
    """Templates and sequences are created, changed and deleted the same way, by managers;
    the role is checked before the input, so a viewer hears "not allowed", not "name missing"."""
    _require_manager(actor)
    record = model(**clean(data), created_by_id=actor.id)
    db.session.add(record)
    db.session.flush()
    return record


def _update(actor, record, clean, data: dict):
    _require_manager(actor)
    for key, value in clean(data).items():
        setattr(record, key, value)
    db.session.flush()
    return record


def _delete(actor, record) -> None:
    _require_manager(actor)
    db.session.delete(record)
    db.session.flush()


def create_template(actor, data: dict) -> EmailTemplate:
    return _create(actor, EmailTemplate, _clean_template, data)


def update_template(actor, template: EmailTemplate, data: dict) -> EmailTemplate:
    return _update(actor, template, _clean_template, data)


def delete_template(actor, template: EmailTemplate) -> None:
    """Steps that sent it are kept and skipped (their summary says so)."""
    _delete(actor, template)


# --- sequences -----------------------------------------------------------------------------

def _clean_sequence(data: dict) -> dict:
    errors: dict[str, list[str]] = {}
    name = _line(data.get("name"), 120)
    if not name:
        errors["name"] = ["Give the sequence a name, such as “New trial nurture”."]
    raw_score = str(data.get("exit_score_at_least") or "").strip()
    score = None
    if raw_score:
        try:
            score = int(raw_score)
        except ValueError:
            errors["exit_score_at_least"] = ["Enter the score as a whole number, such as 80, or leave it empty."]
    if errors:
        raise ValidationFailed(errors)
    flag = lambda key: str(data.get(key) or "").lower() in ("1", "y", "on", "true", "yes")  # noqa: E731
    return {"name": name, "active": flag("active"), "exit_on_reply": flag("exit_on_reply"),
            "exit_on_stage_change": flag("exit_on_stage_change"), "exit_on_won_lost": flag("exit_on_won_lost"),
            "exit_score_at_least": score}


def create_sequence(actor, data: dict) -> Sequence:
    return _create(actor, Sequence, _clean_sequence, data)


def update_sequence(actor, sequence: Sequence, data: dict) -> Sequence:
    return _update(actor, sequence, _clean_sequence, data)


def delete_sequence(actor, sequence: Sequence) -> None:
    """Deletes its steps and enrolments too: nobody gets another message from it."""
    _delete(actor, sequence)


def _clean_step(data: dict) -> dict:
    kind = data.get("kind") or ""
    if kind not in STEP_KINDS:
        raise ValidationFailed({"kind": ["Choose send e-mail, wait or create task."]})
    if kind == "send":
        template = get_by_id(EmailTemplate, data.get("template_id"))
        if template is None:
            raise ValidationFailed({"template_id": ["Choose the template to send."]})
        return {"kind": kind, "template_id": template.id}
    if kind == "wait":
        unit = data.get("wait_unit") or "days"
        amount = _int(data.get("wait_amount"))
        if unit not in WAIT_UNITS:
            raise ValidationFailed({"wait_unit": ["Choose days or hours."]})
        if amount is None or not 1 <= amount <= MAX_WAIT[unit]:
            raise ValidationFailed({"wait_amount": [f"Enter a whole number of {unit} from 1 to {MAX_WAIT[unit]}."]})
        return {"kind": kind, "wait_amount": amount, "wait_unit": unit}
    title = _line(data.get("task_title"), 200)
    if not title:
        raise ValidationFailed({"task_title": ["Say what the owner should do, such as “Call to follow up”."]})
    return {"kind": kind, "task_title": title}


def _int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def add_step(actor, sequence: Sequence, data: dict) -> SequenceStep:
    _require_manager(actor)
    step = SequenceStep(**_clean_step(data), position=len(sequence.steps))
    sequence.steps.append(step)
    db.session.flush()
    return step


def _renumber(sequence: Sequence) -> None:
    for position, step in enumerate(sequence.steps):
        step.position = position


def remove_step(actor, step: SequenceStep) -> None:
    """Enrolments past the removed step move back one, so nobody skips the step after it."""
    _require_manager(actor)
    sequence, index = step.sequence, step.position
    sequence.steps.remove(step)
    _renumber(sequence)
    for enrollment in _active_enrollments(sequence):
        if enrollment.step_index > index:
            enrollment.step_index -= 1
    db.session.flush()


def move_step(actor, step: SequenceStep, offset: int) -> None:
    """Move a step up (-1) or down (+1)."""
    _require_manager(actor)
    steps = list(step.sequence.steps)
    index = steps.index(step)
    target = max(0, min(len(steps) - 1, index + offset))
    steps.insert(target, steps.pop(index))
    for position, each in enumerate(steps):
        each.position = position
    db.session.flush()
    db.session.expire(step.sequence, ["steps"])


# --- enrolment ------------------------------------------------------------------------------

def _active_enrollments(sequence: Sequence) -> list[Enrollment]:
    return list(db.session.scalars(select(Enrollment).where(
        Enrollment.sequence_id == sequence.id, Enrollment.state == "active")))


def active_enrollment(lead: Lead, sequence: Sequence) -> Enrollment | None:
    return db.session.scalar(select(Enrollment).where(
        Enrollment.lead_id == lead.id, Enrollment.sequence_id == sequence.id, Enrollment.state == "active"))


def enroll(lead: Lead, sequence: Sequence, actor, *, now: datetime | None = None) -> Enrollment:
    """Start ``lead`` on ``sequence`` (first step due at once). Idempotent: a lead already
    active in the sequence keeps that enrolment, which is returned."""
    if not (getattr(actor, "is_system", False) or can_edit_lead(actor, lead)):
        raise PermissionDenied("You can only enrol leads you own or unassigned leads.")
    if lead.deleted_at is not None:
        raise NotFound("This lead is in the trash. Restore it first.")
    if not sequence.active:
        raise ValidationFailed({"sequence_id": ["This sequence is paused: turn it on before enrolling leads."]})
    if not can_send_marketing(lead):
        raise ValidationFailed({"sequence_id": [consent_problem(lead)]})
    existing = active_enrollment(lead, sequence)
    if existing is not None:
        return existing
    now = now or utcnow()
    enrollment = Enrollment(sequence_id=sequence.id, lead_id=lead.id, state="active", active_flag=True,
                            step_index=0, next_run_at=now, enrolled_by_id=actor.id, enrolled_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(enrollment)
    except IntegrityError:  # a concurrent enrolment won the unique (sequence, lead, active) slot
        existing = active_enrollment(lead, sequence)
        if existing is None:
            raise
        return existing
    return enrollment


def consent_problem(lead: Lead) -> str:
    if lead.unsubscribed_at is not None:
        return "This lead unsubscribed from marketing e-mail."
    if not lead.email:
        return "This lead has no e-mail address."
    if lead.deleted_at is not None:
        return "This lead is in the trash."
    return "This lead has not given marketing consent."


def finish(enrollment: Enrollment, state: str, reason: str | None, now: datetime) -> None:
    enrollment.state = state
    enrollment.active_flag = None
    enrollment.exit_reason = reason
    enrollment.finished_at = now
    enrollment.next_run_at = None
    enrollment.lease_until = None


def enrolled_lead_ids(ids: list[int]) -> list[int]:
    """Which of these leads are in a sequence now (one query per thousand)."""
    found: set[int] = set()
    ids = sorted(set(ids))
    for start in range(0, len(ids), 1000):
        found.update(db.session.scalars(select(Enrollment.lead_id).where(
            Enrollment.lead_id.in_(ids[start:start + 1000]), Enrollment.state == "active")))
    return sorted(found)


def exit_lead_enrollments(lead: Lead, reason: str, *, when=lambda sequence: True,
                          now: datetime | None = None) -> int:
    """End the lead's active enrolments (those whose sequence ``when`` accepts); returns how many."""
    now = now or utcnow()
    enrollments = db.session.scalars(select(Enrollment).where(
        Enrollment.lead_id == lead.id, Enrollment.state == "active")).all()
    ended = 0
    for enrollment in enrollments:
        if when(enrollment.sequence):
            finish(enrollment, "exited", reason, now)
            ended += 1
    db.session.flush()
    return ended


def stop_enrollment(actor, enrollment: Enrollment, *, now: datetime | None = None) -> None:
    if not can_edit_lead(actor, enrollment.lead):
        raise PermissionDenied("You can only stop enrolments of leads you own or unassigned leads.")
    if enrollment.state == "active":
        finish(enrollment, "exited", "stopped", now or utcnow())
        db.session.flush()


# --- opt-out and tracking ------------------------------------------------------------------------

def record_event(lead: Lead, kind: str, subject: str, *, now: datetime, details: dict | None = None) -> Activity:
    activity = Activity(lead_id=lead.id, kind=kind, actor_id=None, occurred_at=now, subject=subject[:200],
                        details=details)
    db.session.add(activity)
    db.session.flush()
    events.activity_added(lead, None, activity)
    return activity


def unsubscribe_lead(lead: Lead, *, now: datetime | None = None, via: str = "link") -> bool:
    """Record the opt-out (consent off, time stamped, a timeline entry) and end every
    enrolment. Returns False when the lead had already opted out."""
    now = now or utcnow()
    if lead.unsubscribed_at is not None:
        return False
    before = {"marketing_consent": lead.marketing_consent}
    actor = system_actor("Unsubscribe link" if via == "link" else f"Unsubscribe ({via})")
    record_changes(actor, "lead", lead.id, before, {"marketing_consent": False})
    store.update_columns([lead.id], {"marketing_consent": False, "unsubscribed_at": now, "updated_at": now},
                         actor, announce=["marketing_consent"], bump_version=True)
    record_event(lead, "unsubscribed", "Unsubscribed from marketing e-mail", now=now, details={"via": via})
    exit_lead_enrollments(lead, "unsubscribed", now=now)
    return True


def enroll_many(actor, leads: list[Lead], sequence_id) -> tuple[int, int, list[str]]:
    """Bulk enrolment from the lead list: (enrolled, already in or without consent, refused names)."""
    sequence = get_by_id(Sequence, sequence_id)
    if sequence is None:
        raise ValidationFailed({"sequence_id": ["Choose the sequence to enrol the leads in."]})
    if not sequence.active:
        raise ValidationFailed({"sequence_id": ["This sequence is paused: turn it on before enrolling leads."]})
    enrolled, skipped, refused = 0, 0, []
    for lead in leads:
        if not can_edit_lead(actor, lead):
            refused.append(lead.name)
        elif not can_send_marketing(lead) or active_enrollment(lead, sequence) is not None:
            skipped += 1
        else:
            enroll(lead, sequence, actor)
            enrolled += 1
    db.session.flush()
    return enrolled, skipped, refused
