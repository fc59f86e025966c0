"""What a rule does: each action type's check (when the rule is saved) and its run.

Actions act as the rule's own system actor ("Workflow rule “Hot lead”") through the
services a person's change goes through, so permissions, history, audit and events all apply.
"""

from __future__ import annotations

from datetime import timedelta

from leadflow.accounts.models import User
from leadflow.accounts.system import system_actor
from leadflow.accounts.zones import user_zone
from leadflow.activities.services import create_task
from leadflow.db import utcnow
from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.leads.models import LIFECYCLES, SOURCES, TEMPERATURES, Lead
from leadflow.leads.services import update_lead
from leadflow.mail.services import RenderedMail, absolute_url, enqueue_mail, render_mail
from leadflow.pipeline.models import Stage
from leadflow.pipeline.moves import move_lead
from leadflow.sequences.links import unsubscribe_url
from leadflow.sequences.models import EmailTemplate, Sequence
from leadflow.sequences.services import active_enrollment, enroll
from leadflow.sequences.templates import TemplateError, marketing_skip_reason, render_for_lead
from leadflow.web.formatting import local_input_value
from leadflow.workflows.webhooks import WebhookUrlRefused, check_url, queue_delivery

ACTIONS = {
    "assign": "Assign to a user", "create_task": "Create a task", "move_stage": "Move to a stage",
    "set_field": "Set a field", "add_tag": "Add a tag", "send_email": "Send an e-mail to the lead",
    "notify_owner": "E-mail the owner", "enrol_sequence": "Enrol in a sequence", "call_webhook": "Call a webhook",
}
SETTABLE_FIELDS = {"lifecycle": LIFECYCLES, "temperature": TEMPERATURES, "source": SOURCES, "value": None,
                   "country": None, "title": None}
TASK_KINDS = ("call", "email", "meeting", "todo")


class ActionError(Exception):
    """An action could not be done; the message goes to the run log."""


def _int(value, message: str) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError) as exc:
        raise ValueError(message) from exc
    if not -2**31 < number < 2**31:  # beyond any id or hour count; the database would refuse it
        raise ValueError(message)
    return number


def clean_action(raw: dict) -> dict:
    """Check one action as typed in the editor; returns the stored form or raises ValueError."""
    kind = raw.get("type", "")
    if kind not in ACTIONS:
        raise ValueError("Choose what the action does.")
    if kind == "assign":
        user_id = _int(raw.get("user_id"), "Choose the user to assign to.")
        user = db.session.get(User, user_id)
        if user is None or not user.active or user.role == "viewer":
            raise ValueError("Choose an active user who can own leads from the list.")
        return {"type": kind, "user_id": user_id}
    if kind == "create_task":
        title = " ".join(str(raw.get("title") or "").split())[:200]
        if not title:
            raise ValueError("Give the task a title.")
        task_kind = raw.get("kind") or "todo"
        if task_kind not in TASK_KINDS:
            raise ValueError("Choose call, email, meeting or to-do.")
        hours = _int(raw.get("due_hours") or 0, "Enter the hours until the task is due as a whole number.")
        if not 0 <= hours <= 24 * 365:
            raise ValueError("The task must be due within a year.")
        assignee = str(raw.get("assignee") or "owner")
        if assignee != "owner":
            user = db.session.get(User, _int(assignee, "Choose who gets the task."))
            if user is None or not user.active or user.role == "viewer":
                raise ValueError("Choose an active user from the list to get the task.")
        return {"type": kind, "title": title, "kind": task_kind, "due_hours": hours, "assignee": assignee}
    if kind == "move_stage":
        stage = db.session.get(Stage, _int(raw.get("stage_id"), "Choose the stage."))
        if stage is None or stage.pipeline.archived_at is not None:
            raise ValueError("Choose a stage from the list.")
        return {"type": kind, "stage_id": stage.id}
    if kind == "set_field":
        field = raw.get("field")
        if field not in SETTABLE_FIELDS:
            raise ValueError("Choose the field to set.")
        value = " ".join(str(raw.get("value") or "").split())[:200]
        choices = SETTABLE_FIELDS[field]
        if choices is not None and value.lower() not in choices:
            raise ValueError(f"Choose one of: {', '.join(choices)}.")
        return {"type": kind, "field": field, "value": value.lower() if choices else value}
    if kind == "add_tag":
        tag = " ".join(str(raw.get("tag") or "").split())
        if not tag or len(tag) > 40:
            raise ValueError("Enter a tag of at most 40 characters.")
        return {"type": kind, "tag": tag}
    if kind == "send_email":
        template_id = _int(raw.get("template_id"), "Choose the e-mail template.")
        if db.session.get(EmailTemplate, template_id) is None:
            raise ValueError("Choose an e-mail template from the list.")
        return {"type": kind, "template_id": template_id}
    if kind == "enrol_sequence":
        sequence = db.session.get(Sequence, _int(raw.get("sequence_id"), "Choose the sequence."))
        if sequence is None or not sequence.active:
            raise ValueError("Choose an active sequence from the list.")
        return {"type": kind, "sequence_id": sequence.id}
    if kind == "notify_owner":
        note = " ".join(str(raw.get("message") or "").split())[:500]
        return {"type": kind, "message": note}
    url = str(raw.get("url") or "").strip()
    try:
        check_url(url)
    except WebhookUrlRefused as exc:
        raise ValueError(str(exc)) from exc
    return {"type": kind, "url": url}


def rule_actor(rule):
    """Who the audit log says acted when ``rule`` ran."""
    return system_actor(f"Workflow rule “{rule.name}”")


def _update(actor, lead: Lead, data: dict) -> str:
    try:
        changed = update_lead(actor, lead, data)
    except ValidationFailed as exc:
        raise ActionError("; ".join(m for ms in exc.errors.values() for m in ms)) from exc
    return "changed " + ", ".join(changed) if changed else "no change"


def run_action(rule, run, lead: Lead, action: dict, index: int, event: dict) -> str:
    """Do one action; returns what happened in a few words, or raises ActionError."""
    kind = action["type"]
    actor = rule_actor(rule)
    if kind == "assign":
        return _update(actor, lead, {"owner_id": action["user_id"]})
    if kind == "set_field":
        return _update(actor, lead, {action["field"]: action["value"]})
    if kind == "add_tag":
        names = [t.name for t in lead.tags]
        if action["tag"].lower() in {n.lower() for n in names}:
            return "already tagged"
        return _update(actor, lead, {"tags": [*names, action["tag"]]})
    if kind == "move_stage":
        result = move_lead(actor, lead, action["stage_id"],
                           details={"confirm": True, "lost_reason": f"Workflow rule: {rule.name}"[:200]})
        return "moved" if result.changed_stage else "already in that stage"
    if kind == "create_task":
        # Typed as the actor would type it: create_task reads the due time in the actor's zone.
        due = local_input_value(utcnow() + timedelta(hours=action["due_hours"]), user_zone(actor))
        assignee = "" if action["assignee"] == "owner" else action["assignee"]
        task = create_task(actor, lead, {"kind": action["kind"], "title": action["title"], "due": due,
                                          "assignee_id": assignee})
        return f"task {task.id} created"
    if kind == "notify_owner":
        return _notify_owner(rule, run, lead, action, index)
    if kind == "send_email":
        return _send_email(rule, run, lead, action, index)
    if kind == "enrol_sequence":
        return _enrol_sequence(actor, lead, action)
    return _queue_webhook(rule, run, lead, action, index, event)


def _notify_owner(rule, run, lead: Lead, action: dict, index: int) -> str:
    if lead.owner is None or not lead.owner.active:
        return "skipped: the lead has no owner"
    mail = render_mail("workflow_notice", f"{rule.name}: {lead.name}", user=lead.owner, lead=lead,
                       rule_name=rule.name, message=action.get("message") or "",
                       link=absolute_url("leads.detail", lead_id=lead.id))
    queued = enqueue_mail(to=lead.owner.email, kind="workflow_notice", mail=mail, user_id=lead.owner_id,
                          lead_id=lead.id, idempotency_key=f"workflow:{run.id}:{index}")
    return "e-mail to the owner queued" if queued else "already queued"


def _send_email(rule, run, lead: Lead, action: dict, index: int) -> str:
    """Marketing e-mail to the lead from a sequences template: only with consent, never after an
    unsubscribe, always with the unsubscribe link (in the body and the List-Unsubscribe header)."""
    from html import escape

    if reason := marketing_skip_reason(lead):
        return f"skipped: {reason}"
    template = db.session.get(EmailTemplate, action["template_id"])
    if template is None:
        raise ActionError("The e-mail template no longer exists.")
    try:
        subject, text, body = render_for_lead(template, lead)
    except TemplateError as exc:
        raise ActionError(f"The e-mail template “{template.name}” cannot be sent ({str(exc).rstrip('.')}). "
                          "Correct it under Sequences → E-mail templates.") from exc
    unsubscribe = unsubscribe_url(lead.id)
    if unsubscribe not in text:
        text = f"{text.rstrip()}\n\n--\nUnsubscribe: {unsubscribe}\n"
    html_body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(subject)}</title>'
                 f'</head><body>{body}<p style="font-size:12px;color:#7b8794;">'
                 f'<a href="{escape(unsubscribe)}">Unsubscribe</a></p></body></html>')
    queued = enqueue_mail(to=lead.email, kind="workflow_email", lead_id=lead.id,
                          mail=RenderedMail(subject=subject, text_body=text, html_body=html_body),
                          idempotency_key=f"workflow:{run.id}:{index}", list_unsubscribe=unsubscribe)
    return "e-mail to the lead queued" if queued else "already queued"


def _enrol_sequence(actor, lead: Lead, action: dict) -> str:
    """Start the lead on a sequence as the rule's actor; leads that may not get marketing
    e-mail are skipped (the run still succeeds)."""
    sequence = db.session.get(Sequence, action["sequence_id"])
    if sequence is None:
        raise ActionError("The sequence no longer exists.")
    if not sequence.active:
        raise ActionError(f"The sequence “{sequence.name}” is paused: turn it on or change the rule.")
    if reason := marketing_skip_reason(lead):
        return f"skipped: {reason}"
    if active_enrollment(lead, sequence) is not None:
        return f"already enrolled in “{sequence.name}”"
    enroll(lead, sequence, actor)
    return f"enrolled in “{sequence.name}”"


def _queue_webhook(rule, run, lead: Lead, action: dict, index: int, event: dict) -> str:
    payload = {
        "event": event["trigger"], "rule": {"id": rule.id, "name": rule.name}, "run_id": run.id,
        "lead": {"id": lead.id, "name": lead.name, "email": lead.email, "phone": lead.phone,
                 "source": lead.source, "lifecycle": lead.lifecycle, "temperature": lead.temperature,
                 "score": lead.score, "stage": lead.stage.name if lead.stage else None,
                 "owner": lead.owner.email if lead.owner else None,
                 "value": None if lead.value_cents is None else str(lead.value),
                 "tags": [t.name for t in lead.tags]},
        "sent_at": utcnow().isoformat(),
    }
    queued = queue_delivery(rule=rule, lead=lead, url=action["url"], payload=payload,
                            delivery_key=f"workflow:{run.id}:{index}")
    return "webhook call queued" if queued else "already queued"
