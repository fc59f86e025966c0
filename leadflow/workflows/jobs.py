"""Where rules hear about leads: the arrival step, event handlers and the time-based sweep.

The sweep fires ``no_activity_days`` and ``task_overdue`` rules once per occurrence: a
``WorkflowFiring`` row (unique per rule, lead, subject and since-when) is inserted with
``ON CONFLICT DO NOTHING`` before the rule runs, in the same transaction, so several
schedulers running at once never fire the same occurrence twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import String, cast, exists, func, literal

from leadflow.activities.models import Task
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads import events
from leadflow.leads.events import Arrivals, Bus, load_leads
from leadflow.leads.models import Lead
from leadflow.scheduler.claims import insert_or_ignore
from leadflow.workflows.models import WorkflowFiring, WorkflowRule
from leadflow.workflows.services import listening_rules, run_rule, run_rules

BATCH = 200
log = logging.getLogger(__name__)


def _run_for_each(ids: list[int], event: dict) -> None:
    # Read once for the batch; a rule on another field or stage than this event's never runs.
    rules = listening_rules(event)
    if not rules:
        return  # the common case: no rule listens, and the batch's leads are never loaded
    for lead in load_leads(ids):
        run_rules(event, lead, rules)


def workflow_rules_on_arrival(arrivals: Arrivals) -> None:
    for channel in arrivals.channels():  # a rule may listen for the leads of one channel
        _run_for_each(arrivals.via([channel]), {"trigger": "lead_created", "channel": channel})


def workflow_rules_on_move(ids: list[int], actor, from_id=None, to_id=None) -> None:
    _run_for_each(ids, {"trigger": "stage_changed", "from_id": from_id, "to_id": to_id})


def workflow_rules_on_lead_change(ids: list[int], actor, fields=()) -> None:
    _run_for_each(ids, {"trigger": "field_changed", "fields": list(fields)})


def workflow_rules_on_score_change(changes: list[events.ScoreChange], actor) -> None:
    # Which rules listen is kept for the process: a score no rule listens for reads nothing.
    for lead, old, new in changes:
        event = {"trigger": "score_crossed", "old": old, "new": new}
        rules = listening_rules(event)
        if rules:
            events.isolated(run_rules, f"Workflow rules on lead {lead.id}'s score", event, lead, rules)


def register(bus: Bus) -> None:
    """Workflow rules hear every lead event; on arrival they run last (after routing,
    scoring and alerts), so a rule's conditions see the lead's owner and temperature."""
    bus.on(events.ARRIVED, workflow_rules_on_arrival, order=60)
    bus.on(events.MOVED, workflow_rules_on_move)
    bus.on(events.CHANGED, workflow_rules_on_lead_change)
    bus.on(events.SCORE_CHANGED, workflow_rules_on_score_change)


def _not_fired(rule_id: int, subject, anchor):
    return ~exists().where(WorkflowFiring.rule_id == rule_id, WorkflowFiring.lead_id == Lead.id,
                           WorkflowFiring.subject == subject, WorkflowFiring.anchor_at == anchor)


def _idle_candidates(rule: WorkflowRule, now: datetime):
    days = int((rule.trigger_config or {}).get("days") or 1)
    anchor = func.coalesce(Lead.last_activity_at, Lead.created_at)
    rows = db.session.execute(
        db.select(Lead.id, anchor).where(Lead.deleted_at.is_(None), anchor <= now - timedelta(days=days),
                                         _not_fired(rule.id, "idle", anchor))
        .order_by(Lead.id).limit(BATCH)).all()
    return [(lead_id, "idle", at) for lead_id, at in rows]


def _overdue_candidates(rule: WorkflowRule, now: datetime):
    subject = literal("task:") + cast(Task.id, String)
    rows = db.session.execute(
        db.select(Task.lead_id, Task.id, Task.due_at).join(Lead, Lead.id == Task.lead_id)
        .where(Task.done_at.is_(None), Task.due_at <= now, Lead.deleted_at.is_(None),
               _not_fired(rule.id, subject, Task.due_at))
        .order_by(Task.id).limit(BATCH)).all()
    return [(lead_id, f"task:{task_id}", due_at) for lead_id, task_id, due_at in rows]


def fire_time_triggers(now: datetime | None = None) -> int:
    """Run the time-based rules for each lead that has come due since the last sweep."""
    now = now or utcnow()
    fired = 0
    rules = db.session.scalars(db.select(WorkflowRule).where(
        WorkflowRule.active.is_(True), WorkflowRule.trigger.in_(("no_activity_days", "task_overdue")))
        .order_by(WorkflowRule.id)).all()
    for rule in rules:
        finder = _idle_candidates if rule.trigger == "no_activity_days" else _overdue_candidates
        for lead_id, subject, anchor in finder(rule, now):
            key = insert_or_ignore(WorkflowFiring, {"rule_id": rule.id, "lead_id": lead_id, "subject": subject,
                                                    "anchor_at": anchor, "created_at": now},
                                   unique_columns=["rule_id", "lead_id", "subject", "anchor_at"])
            if key is None:
                continue  # another sweep fired this one
            lead = db.session.get(Lead, lead_id)
            try:
                with db.session.begin_nested():
                    run_rule(rule, lead, {"trigger": rule.trigger, "subject": subject})
            except Exception:  # logged; the firing key stays, so a broken rule is not retried forever
                log.exception("Workflow rule %s failed for lead %s", rule.id, lead_id)
            db.session.commit()
            fired += 1
    db.session.commit()
    return fired


def register_sweeps(add) -> None:
    """This area's periodic work, for the scheduler (``leadflow.wiring.schedule``)."""
    add("workflow_time_triggers", every_seconds=300, func=fire_time_triggers)
