"""Alerts about new leads: the owner hears of a lead at once, and again if nobody answers it.

* New-lead alert: when leads arrive by a form or the API and have an owner, each owner
  hears of it in the transaction that created the lead (on ``leads.arrived``, see ``register``).
* Speed-to-lead and escalation: on ``leads.arrived``, two ``LeadAlert`` rows per lead; when one
  falls due and nobody has responded (``Lead.first_response_at``), the owner (speed to
  lead) or every active manager and admin (escalation) is alerted. A lead answered in
  time completes its rows silently.

Each message carries a deterministic idempotency key, so a lead is alerted about once
whichever process or retry queues it. The sweep takes ``now``, so tests run it at chosen
times.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, select
from sqlalchemy.orm import joinedload

from leadflow.accounts.models import User
from leadflow.db import insert_missing, utcnow
from leadflow.extensions import db
from leadflow.governance.settings import get_setting
from leadflow.leads import events
from leadflow.leads.events import Arrivals, Bus, load_leads
from leadflow.leads.models import Lead
from leadflow.leads.alert_models import LeadAlert
from leadflow.mail.services import absolute_url, queue_for, queue_many, render_mail
from leadflow.scheduler.claims import claimed_batches

ALERT_CHANNELS = ("form", "api")  # a new-lead e-mail for leads nobody on the team typed in
SPEED_TO_LEAD_CHANNELS = ("manual", "form", "api")  # imports are old leads, not fresh enquiries


def _lead_facts(lead: Lead) -> list[tuple[str, str]]:
    facts = [("Email", lead.email), ("Phone", lead.phone), ("Title", lead.title),
             ("Organization", lead.organization.name if lead.organization else None),
             ("Source", lead.source), ("Campaign", lead.utm_campaign)]
    return [(label, value) for label, value in facts if value]


def alert_owners_of_new_leads(arrivals: Arrivals) -> None:
    """Leads from a form or the API with an owner: e-mail each owner now. (Not those typed in
    by someone on the team, who knows, nor imported ones, old leads.)"""
    leads = load_leads(arrivals.via(ALERT_CHANNELS), organizations=True)  # the e-mail names each lead's organization
    if not leads:
        return
    # The owners of the batch in one query (held here: the session holds objects weakly).
    owners = {user.id: user for user in db.session.scalars(
        select(User).where(User.id.in_({lead.owner_id for lead in leads if lead.owner_id is not None})))}
    messages = []
    for lead in leads:
        owner = owners.get(lead.owner_id)
        if owner is None or not owner.active:
            continue
        via = "a web form" if arrivals.channel(lead.id) == "form" else "the API"
        mail = render_mail("new_lead_alert", f"New lead: {lead.name}", lead=lead, user=owner, via=via,
                           facts=_lead_facts(lead), link=absolute_url("leads.detail", lead_id=lead.id))
        messages.append((owner, "new_lead_alert", mail, f"new-lead:{lead.id}", lead.id))
    queue_many(messages)  # one INSERT for the batch


def schedule_speed_to_lead(arrivals: Arrivals) -> None:
    """Two due rows per new lead: a speed-to-lead alert to the owner, then an escalation.
    (Not for imports, old leads; a merge's survivor was there before and does not arrive.)"""
    ids = arrivals.via(SPEED_TO_LEAD_CHANNELS)
    if not ids:
        return
    minutes = {kind: int(get_setting(setting)) for kind, setting in (
        ("speed_to_lead", "speed_to_lead_minutes"), ("escalation", "escalate_after_minutes"))}
    rows = [{"kind": kind, "lead_id": lead.id, "due_at": arrived + timedelta(minutes=after), "created_at": arrived}
            for lead in load_leads(ids)  # the batch's leads, read by the handlers before this one
            for arrived in [lead.created_at or utcnow()] for kind, after in minutes.items()]
    if rows:  # one statement for the batch; a lead that has its timers keeps them
        insert_missing(LeadAlert.__table__, rows, ["kind", "lead_id"])


def register(bus: Bus) -> None:
    """New-lead alerts and speed-to-lead timers start after routing has chosen the owner."""
    bus.on(events.ARRIVED, alert_owners_of_new_leads, order=50)
    bus.on(events.ARRIVED, schedule_speed_to_lead, order=50)


def send_lead_alerts(now: datetime) -> int:
    queued = 0
    for ids in claimed_batches(LeadAlert, due=and_(LeadAlert.done_at.is_(None), LeadAlert.due_at <= now),
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


def register_sweeps(add) -> None:
    """This area's periodic work, for the scheduler (``leadflow.wiring.schedule``)."""
    add("lead_alerts", every_seconds=15, func=send_lead_alerts)
