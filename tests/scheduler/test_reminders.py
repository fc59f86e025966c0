"""Reminders and alerts at the right times, exactly once: task due, new-lead alert,
speed-to-lead and escalation, the morning digest. Sweeps are called with chosen times."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from leadflow.activities.digests import send_digests
from leadflow.activities.models import Task
from leadflow.activities.reminders import send_task_reminders
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads import services as lead_services
from leadflow.leads.alerts import send_lead_alerts
from leadflow.leads.alert_models import LeadAlert
from leadflow.mail.models import OutboxMessage
from leadflow.pipeline.services import ensure_default_pipeline

from tests.factories import TEST_SETUP


def _messages(**filters) -> list[OutboxMessage]:
    db.session.expire_all()
    query = db.select(OutboxMessage).order_by(OutboxMessage.id)
    for name, value in filters.items():
        query = query.where(getattr(OutboxMessage, name) == value)
    return list(db.session.scalars(query))


def _task(lead, assignee, due_at, title="Call back about pricing") -> Task:
    task = Task(lead_id=lead.id, title=title, due_at=due_at, remind_at=due_at, assignee_id=assignee.id, kind="call")
    db.session.add(task)
    db.session.commit()
    return task


def _new_lead(channel="manual", owner=None, **fields):
    ensure_default_pipeline()
    data = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@analytical.example", **fields}
    if owner is not None:
        data["owner_id"] = owner.id
    lead = lead_services.create_lead(TEST_SETUP, data, region="US", channel=channel)
    db.session.commit()
    return lead


# --- task due -----------------------------------------------------------------------

def test_a_due_task_reminds_its_assignee_once_with_a_link_to_the_lead(app, make_user, make_lead):
    rep = make_user(role="rep", name="Rita Rep", timezone="Europe/Paris")
    lead = make_lead(first_name="Grace", last_name="Hopper")
    due = datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)
    task = _task(lead, rep, due)

    assert send_task_reminders(due - timedelta(seconds=1)) == 0  # not due yet
    assert send_task_reminders(due) == 1
    assert send_task_reminders(due + timedelta(minutes=1)) == 0  # never twice
    [message] = _messages()
    assert message.to_address == rep.email and message.kind == "task_reminder"
    assert message.idempotency_key == f"task-due:{task.id}:{due.isoformat()}"
    assert message.subject == "Due: Call back about pricing (Grace Hopper)"
    assert f"/leads/{lead.id}" in message.text_body
    assert "Mon 02 Mar 2026, 09:30 Europe/Paris (UTC+01:00)" in message.text_body  # the assignee's zone, named
    db.session.expire_all()
    assert db.session.get(Task, task.id).remind_at is None


def test_a_rescheduled_task_is_reminded_again_at_its_new_time(app, make_user, make_lead):
    rep = make_user(role="rep")
    due = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    task = _task(make_lead(), rep, due)
    send_task_reminders(due)
    later = due + timedelta(days=1)
    task = db.session.get(Task, task.id)
    task.due_at = task.remind_at = later  # what the task service does on reschedule
    db.session.commit()
    assert send_task_reminders(later) == 1
    assert len(_messages(kind="task_reminder")) == 2


def test_a_done_task_or_an_inactive_assignee_gets_no_reminder(app, make_user, make_lead):
    rep, gone = make_user(role="rep"), make_user(role="rep", active=False)
    due = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    done = _task(make_lead(), rep, due)
    done.done_at = due - timedelta(hours=1)
    _task(make_lead(), gone, due)
    db.session.commit()
    assert send_task_reminders(due) == 0
    assert _messages() == []
    assert db.session.scalar(db.select(db.func.count(Task.id)).where(Task.remind_at.is_not(None))) == 0


def test_catch_up_a_reminder_due_while_stopped_goes_on_the_first_tick_once(app, make_user, make_lead):
    rep = make_user(role="rep")
    now = utcnow()
    _task(make_lead(), rep, now - timedelta(hours=7))  # fell due while no scheduler ran
    assert send_task_reminders(now) == 1
    assert send_task_reminders(now + timedelta(seconds=15)) == 0
    [message] = _messages()
    assert "This task is due now" in message.text_body


def test_a_crashed_claimers_lease_runs_out_and_the_task_is_reminded(app, make_user, make_lead):
    rep = make_user(role="rep")
    now = utcnow()
    task = _task(make_lead(), rep, now - timedelta(minutes=1))
    task.reminder_lease_until = now + timedelta(seconds=120)  # claimed by a process that then died
    db.session.commit()
    assert send_task_reminders(now) == 0
    assert send_task_reminders(now + timedelta(seconds=121)) == 1
    assert len(_messages()) == 1


# --- a new lead arrives --------------------------------------------------------------

def test_a_lead_from_a_form_with_an_owner_alerts_the_owner_in_the_same_transaction(app, make_user):
    owner = make_user(role="rep", name="Olga Owner")
    lead = _new_lead(channel="form", owner=owner, title="CTO", source="web form")
    [message] = _messages(kind="new_lead_alert")
    assert message.to_address == owner.email and message.lead_id == lead.id
    assert message.idempotency_key == f"new-lead:{lead.id}"
    assert message.subject == "New lead: Ada Lovelace"
    assert "a web form" in message.text_body and "Title: CTO" in message.text_body
    assert f"/leads/{lead.id}" in message.text_body


def test_api_leads_alert_too_but_manual_and_unowned_leads_do_not(app, make_user):
    owner = make_user(role="rep")
    _new_lead(channel="api", owner=owner)
    _new_lead(channel="manual", owner=owner, email="typed@example.com")
    _new_lead(channel="form", email="nobody-owns@example.com")
    assert len(_messages(kind="new_lead_alert")) == 1


def test_if_the_alert_cannot_be_queued_the_lead_is_still_saved(app, make_user, monkeypatch):
    import leadflow.leads.alerts as alerts

    def broken(*args, **kwargs):
        raise RuntimeError("template missing")

    monkeypatch.setattr(alerts, "render_mail", broken)
    owner = make_user(role="rep")
    lead = _new_lead(channel="form", owner=owner)
    assert lead.id is not None and _messages() == []


# --- speed to lead and escalation ----------------------------------------------------------

def test_speed_to_lead_alerts_the_owner_then_escalates_to_managers_and_admins(app, make_user):
    owner = make_user(role="rep")
    manager, admin = make_user(role="manager"), make_user(role="admin")
    make_user(role="manager", active=False)
    make_user(role="rep")
    lead = _new_lead(owner=owner)
    arrived = lead.created_at

    assert send_lead_alerts(arrived + timedelta(minutes=4, seconds=59)) == 0
    assert send_lead_alerts(arrived + timedelta(minutes=5)) == 1
    [alert] = _messages(kind="speed_to_lead")
    assert alert.to_address == owner.email and "5 min" in alert.subject

    assert send_lead_alerts(arrived + timedelta(minutes=29)) == 0
    assert send_lead_alerts(arrived + timedelta(minutes=30)) == 2
    assert {m.to_address for m in _messages(kind="escalation")} == {manager.email, admin.email}
    assert send_lead_alerts(arrived + timedelta(hours=5)) == 0  # each alert once


def test_a_lead_answered_in_time_completes_its_alerts_silently(app, make_user):
    owner = make_user(role="rep")
    make_user(role="manager")
    lead = _new_lead(owner=owner)
    lead.first_response_at = lead.created_at + timedelta(minutes=3)  # the owner called
    db.session.commit()
    send_lead_alerts(lead.created_at + timedelta(hours=1))
    assert _messages() == []
    assert {a.outcome for a in db.session.scalars(db.select(LeadAlert))} == {"answered"}


def test_alert_times_follow_the_workspace_settings_and_imports_get_none(app, make_user):
    from leadflow.governance.settings import update_alert_settings

    admin = make_user(role="admin")
    update_alert_settings(admin, speed_to_lead_minutes=2, escalate_after_minutes=10)
    db.session.commit()
    owner = make_user(role="rep")
    lead = _new_lead(owner=owner)
    _new_lead(channel="import", owner=owner, email="imported@example.com")
    assert send_lead_alerts(lead.created_at + timedelta(minutes=2)) == 1
    assert send_lead_alerts(lead.created_at + timedelta(minutes=10)) == 1  # the admin
    assert db.session.scalar(db.select(db.func.count(LeadAlert.id))) == 2


# --- morning digest -------------------------------------------------------------------

NY = "America/New_York"


def _digest_user(make_user, make_lead):
    """A rep in New York with an overdue task; the digest hour is 8 (the default)."""
    rep = make_user(role="rep", timezone=NY, name="Nina York")
    lead = make_lead(first_name="Overdue", last_name="Lead", owner_id=rep.id)
    _task(lead, rep, datetime(2026, 3, 1, 15, 0, tzinfo=timezone.utc), title="Send the proposal")
    db.session.execute(db.update(Task).values(remind_at=None))
    db.session.commit()
    return rep


def test_the_digest_goes_at_the_digest_hour_in_the_users_time_zone_once_a_day(app, make_user, make_lead):
    rep = _digest_user(make_user, make_lead)
    # 8:00 in New York on 2 March 2026 is 13:00 UTC (EST).
    assert send_digests(datetime(2026, 3, 2, 12, 59, tzinfo=timezone.utc)) == 0
    assert send_digests(datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)) == 1
    assert send_digests(datetime(2026, 3, 2, 18, 0, tzinfo=timezone.utc)) == 0
    [digest] = _messages(kind="digest")
    assert digest.to_address == rep.email
    assert digest.idempotency_key == f"digest:{rep.id}:2026-03-02"
    assert "Send the proposal" in digest.text_body and "OVERDUE (1)" in digest.text_body
    # 15:00 UTC on 1 March is 10:00 in New York, and the digest says which zone that is.
    assert "was due Sun 01 Mar, 10:00" in digest.text_body
    assert "Times are in America/New_York (UTC-05:00)." in digest.text_body
    assert send_digests(datetime(2026, 3, 3, 13, 0, tzinfo=timezone.utc)) == 1  # the next morning
    assert [m.idempotency_key for m in _messages(kind="digest")][-1] == f"digest:{rep.id}:2026-03-03"


def test_catch_up_after_downtime_sends_todays_digest_late_and_never_yesterdays(app, make_user, make_lead):
    rep = _digest_user(make_user, make_lead)
    assert send_digests(datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)) == 1
    # Stopped from the morning of the 2nd until 17:00 New York time on the 5th.
    assert send_digests(datetime(2026, 3, 5, 22, 0, tzinfo=timezone.utc)) == 1
    assert send_digests(datetime(2026, 3, 5, 22, 1, tzinfo=timezone.utc)) == 0
    assert [m.idempotency_key for m in _messages(kind="digest")] == [
        f"digest:{rep.id}:2026-03-02", f"digest:{rep.id}:2026-03-05"]


def test_back_before_the_digest_hour_the_missed_day_is_skipped_and_today_waits(app, make_user, make_lead):
    rep = _digest_user(make_user, make_lead)
    send_digests(datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc))
    assert send_digests(datetime(2026, 3, 4, 10, 0, tzinfo=timezone.utc)) == 0  # 5:00 in New York
    assert send_digests(datetime(2026, 3, 4, 13, 0, tzinfo=timezone.utc)) == 1
    assert [m.idempotency_key for m in _messages(kind="digest")][-1] == f"digest:{rep.id}:2026-03-04"


def test_a_user_with_nothing_to_report_gets_no_digest(app, make_user):
    make_user(role="rep", timezone=NY)
    assert send_digests(datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)) == 0
    assert _messages() == []


def test_the_digest_lists_stale_leads_and_leads_past_their_stages_rotting_days(app, make_user, make_lead):
    rep = make_user(role="rep")
    now = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
    pipeline = ensure_default_pipeline()
    stage = pipeline.stages[0]
    stage.rotting_days = 3
    quiet = make_lead(first_name="Quiet", last_name="Stale", owner_id=rep.id)
    rotting = make_lead(first_name="Stuck", last_name="InStage", owner_id=rep.id)
    fresh = make_lead(first_name="Fresh", last_name="Lead", owner_id=rep.id)
    quiet.last_activity_at, quiet.stage_id, quiet.stage_entered_at = now - timedelta(days=20), stage.id, now - timedelta(days=1)
    rotting.last_activity_at, rotting.stage_id, rotting.stage_entered_at = now - timedelta(days=1), stage.id, now - timedelta(days=4)
    fresh.last_activity_at, fresh.stage_id, fresh.stage_entered_at = now - timedelta(days=1), stage.id, now - timedelta(days=1)
    db.session.commit()
    assert send_digests(now) == 1
    [digest] = _messages(kind="digest")
    assert "Quiet Stale" in digest.text_body and "Stuck InStage" in digest.text_body
    assert "Fresh Lead" not in digest.text_body
    assert "STALE LEADS (2" in digest.text_body


def test_changing_the_digest_hour_moves_the_next_digest(app, make_user, make_lead):
    from leadflow.governance.settings import update_alert_settings

    rep = _digest_user(make_user, make_lead)
    send_digests(datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc))  # 7:00 in New York: nothing yet
    update_alert_settings(make_user(role="admin"), digest_hour=6)
    db.session.commit()
    assert send_digests(datetime(2026, 3, 3, 11, 0, tzinfo=timezone.utc)) == 1  # 6:00 the next morning
    assert _messages(kind="digest")[0].idempotency_key == f"digest:{rep.id}:2026-03-03"


def test_a_user_whose_address_cannot_receive_mail_does_not_stop_the_others(app, make_user, make_lead):
    broken, fine = make_user(role="rep"), make_user(role="rep")
    due = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    _task(make_lead(), broken, due)
    _task(make_lead(), fine, due)
    db.session.execute(db.update(type(broken)).where(type(broken).id == broken.id).values(email="not an address"))
    db.session.commit()
    assert send_task_reminders(due) == 1
    assert [m.to_address for m in _messages()] == [fine.email]
    assert db.session.scalar(db.select(db.func.count(Task.id)).where(Task.remind_at.is_not(None))) == 0
