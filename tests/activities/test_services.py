"""Activity logging, tasks, "My work" buckets and the calendar feed, called directly."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from leadflow.accounts.zones import user_zone
from leadflow.activities import ical, queries, services
from leadflow.activities.models import Activity
from leadflow.errors import PermissionDenied, ValidationFailed, VersionConflict
from leadflow.extensions import db
from leadflow.web.formatting import due_text

UTC = timezone.utc


def _task(actor, lead, due: str, **data):
    return services.create_task(actor, lead, {"kind": "call", "title": "Call back", "due": due, **data})


# --- first response and last activity -----------------------------------------------------

def test_first_human_touch_sets_first_response_once(make_user, make_lead):
    rep = make_user("rep")
    lead = make_lead(owner_id=rep.id)
    first = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
    services.log_activity(rep, lead, {"kind": "note", "body": "Looked them up"}, now=first - timedelta(minutes=5))
    db.session.refresh(lead)
    assert lead.first_response_at is None, "a note is not a response to the lead"
    assert lead.last_activity_at == first - timedelta(minutes=5)

    services.log_activity(rep, lead, {"kind": "call", "outcome": "connected", "duration_minutes": "7"}, now=first)
    services.log_activity(rep, lead, {"kind": "email", "subject": "Proposal"}, now=first + timedelta(hours=2))
    db.session.refresh(lead)
    assert lead.first_response_at == first
    assert lead.last_activity_at == first + timedelta(hours=2)


def test_logging_does_not_bump_the_lead_version(make_user, make_lead):
    rep = make_user("rep")
    lead = make_lead(owner_id=rep.id)
    version = lead.version
    services.log_activity(rep, lead, {"kind": "call", "outcome": "busy"})
    db.session.refresh(lead)
    assert lead.version == version


@pytest.mark.parametrize("data, field", [
    ({"kind": "call", "outcome": "", "duration_minutes": "5"}, "outcome"),
    ({"kind": "call", "outcome": "connected", "duration_minutes": "-3"}, "duration_minutes"),
    ({"kind": "meeting", "duration_minutes": "an hour"}, "duration_minutes"),
    ({"kind": "note", "body": "   "}, "body"),
    ({"kind": "sms", "body": "hi"}, "kind"),
])
def test_bad_activity_input_is_refused_with_a_message(make_user, make_lead, data, field):
    rep = make_user("rep")
    lead = make_lead(owner_id=rep.id)
    with pytest.raises(ValidationFailed) as refused:
        services.log_activity(rep, lead, data)
    assert field in refused.value.errors
    assert db.session.scalar(db.select(db.func.count(Activity.id)).where(Activity.kind == data["kind"])) == 0


def test_viewers_and_other_reps_cannot_log(make_user, make_lead):
    owner, other, viewer = make_user("rep"), make_user("rep"), make_user("viewer")
    lead = make_lead(owner_id=owner.id)
    for person in (other, viewer):
        with pytest.raises(PermissionDenied):
            services.log_activity(person, lead, {"kind": "note", "body": "x"})


def test_response_summary_texts(make_lead):
    lead = make_lead()
    lead.created_at = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    assert queries.response_summary(lead, lead.created_at + timedelta(hours=3)) == {"responded": False, "waiting": "3 h"}
    lead.first_response_at = lead.created_at + timedelta(minutes=12)
    assert queries.response_summary(lead, lead.created_at + timedelta(days=3))["took"] == "12 min"


# --- tasks ---------------------------------------------------------------------------------

def test_due_time_is_read_in_the_users_timezone_and_reminded_then(make_user, make_lead):
    rep = make_user("rep", timezone="America/New_York")
    lead = make_lead(owner_id=rep.id)
    task = _task(rep, lead, "2030-07-01T09:30")
    assert task.due_at == datetime(2030, 7, 1, 13, 30, tzinfo=UTC)  # EDT is UTC-4
    assert task.remind_at == task.due_at
    assert task.assignee_id == rep.id


def test_assignee_defaults_to_the_owner_else_me(make_user, make_lead):
    manager, owner = make_user("manager"), make_user("rep")
    owned, unowned = make_lead(owner_id=owner.id), make_lead()
    assert _task(manager, owned, "2030-01-01T09:00").assignee_id == owner.id
    assert _task(manager, unowned, "2030-01-01T09:00").assignee_id == manager.id


@pytest.mark.parametrize("due", ["tomorrow", "2030-13-01T09:00", "01/02/2030 9am", ""])
def test_due_in_a_wrong_format_is_refused(make_user, make_lead, due):
    rep = make_user("rep")
    lead = make_lead(owner_id=rep.id)
    with pytest.raises(ValidationFailed) as refused:
        _task(rep, lead, due)
    assert "due" in refused.value.errors


def test_complete_clears_the_reminder_and_reopen_and_reschedule_set_it(make_user, make_lead):
    rep = make_user("rep")
    lead = make_lead(owner_id=rep.id)
    task = _task(rep, lead, "2030-01-01T09:00")
    task.reminder_lease_until = datetime(2030, 1, 1, 9, 1, tzinfo=UTC)
    assert services.complete_task(rep, task, expected_version=task.version)
    assert task.done_at is not None and task.remind_at is None and task.reminder_lease_until is None
    done = db.session.scalars(db.select(Activity).where(Activity.lead_id == lead.id, Activity.kind == "task_completed")).all()
    assert [a.subject for a in done] == ["Call: Call back"]
    assert not services.complete_task(rep, task), "completing twice changes nothing"

    assert services.reopen_task(rep, task)
    assert task.done_at is None and task.remind_at == task.due_at
    assert services.reschedule_task(rep, task, "2030-02-03T10:15")
    assert task.due_at == datetime(2030, 2, 3, 10, 15, tzinfo=UTC) and task.remind_at == task.due_at


def test_a_stale_version_is_a_conflict(make_user, make_lead):
    rep = make_user("rep")
    lead = make_lead(owner_id=rep.id)
    task = _task(rep, lead, "2030-01-01T09:00")
    seen = task.version
    services.reschedule_task(rep, task, "2030-01-02T09:00", expected_version=seen)
    with pytest.raises(VersionConflict):
        services.complete_task(rep, task, expected_version=seen)
    assert task.done_at is None


def test_reps_manage_tasks_on_their_leads_or_given_to_them(make_user, make_lead):
    manager, rep, other = make_user("manager"), make_user("rep"), make_user("rep")
    theirs = make_lead(owner_id=other.id)
    given_to_rep = _task(manager, theirs, "2030-01-01T09:00", assignee_id=str(rep.id))
    not_mine = _task(manager, theirs, "2030-01-01T09:00", assignee_id=str(other.id))
    assert services.can_manage_task(rep, given_to_rep)
    assert not services.can_manage_task(rep, not_mine)
    with pytest.raises(PermissionDenied):
        services.complete_task(rep, not_mine)
    with pytest.raises(PermissionDenied):
        _task(rep, theirs, "2030-01-01T09:00")
    assert not services.can_manage_task(make_user("viewer"), given_to_rep)


# --- My work buckets -------------------------------------------------------------------------

def test_buckets_follow_the_users_midnight_not_utcs(make_user, make_lead):
    """In Tokyo (UTC+9) at 23:30 local, a task at 00:30 local is tomorrow, though it is the same UTC day."""
    rep = make_user("rep", timezone="Asia/Tokyo")
    lead = make_lead(owner_id=rep.id)
    now = datetime(2030, 3, 10, 14, 30, tzinfo=UTC)  # 23:30 in Tokyo
    late = _task(rep, lead, "2030-03-10T20:00", title="Overdue one")      # 11:00 UTC, before now
    tonight = _task(rep, lead, "2030-03-10T23:50", title="Tonight")       # 14:50 UTC
    after_midnight = _task(rep, lead, "2030-03-11T00:30", title="After midnight")  # 15:30 UTC, same UTC day
    done = _task(rep, lead, "2030-03-10T10:00", title="Done")
    services.complete_task(rep, done)
    overdue, today = queries.overdue_and_today_tasks(rep, now)
    assert [t.title for t in overdue] == [late.title]
    assert [t.title for t in today] == [tonight.title]
    assert [t.title for t in queries.upcoming_tasks(rep, now)] == [after_midnight.title]


def test_buckets_only_hold_my_open_tasks_on_live_leads(make_user, make_lead):
    rep, other = make_user("rep"), make_user("rep")
    mine, trashed = make_lead(owner_id=rep.id), make_lead(owner_id=rep.id)
    now = datetime(2030, 3, 10, 12, 0, tzinfo=UTC)
    _task(rep, mine, "2030-03-10T08:00", title="Mine")
    _task(rep, trashed, "2030-03-10T08:00", title="On trashed lead")
    _task(other, make_lead(owner_id=other.id), "2030-03-10T08:00", title="Theirs")
    trashed.deleted_at = now
    overdue, today = queries.overdue_and_today_tasks(rep, now)
    assert [t.title for t in overdue] == ["Mine"] and today == []


def test_open_leads_without_a_next_step(make_user, make_lead):
    from leadflow.pipeline.models import Stage

    rep = make_user("rep")
    planned, unplanned, won = (make_lead(owner_id=rep.id, first_name=n) for n in ("Planned", "Unplanned", "Won"))
    make_lead(first_name="Someone else's")
    _task(rep, planned, "2030-01-01T09:00")
    won.stage_id = db.session.scalar(db.select(Stage.id).where(Stage.kind == "won"))
    db.session.flush()
    names = [lead.first_name for lead in queries.leads_without_next_step(rep)]
    assert names == ["Unplanned"]


def test_next_open_tasks_is_one_query_for_many_leads(make_user, make_lead, count_queries):
    rep = make_user("rep")
    leads = [make_lead(owner_id=rep.id) for _ in range(5)]
    for lead in leads[:3]:
        _task(rep, lead, "2030-05-02T09:00", title="Later")
        _task(rep, lead, "2030-05-01T09:00", title="Sooner", kind="email")
    ids = [lead.id for lead in leads]
    db.session.commit()
    with count_queries() as statements:
        found = queries.next_open_tasks(ids)
    assert len(statements) == 1
    assert set(found) == set(ids[:3])
    assert {(t.title, t.kind_label) for t in found.values()} == {("Sooner", "Email")}


def test_due_text_in_words(make_user):
    zone = user_zone(make_user("rep", timezone="Europe/Berlin"))
    now = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)  # Monday 11:00 in Berlin
    assert due_text(datetime(2030, 1, 7, 13, 0, tzinfo=UTC), zone, now) == "today 14:00"
    assert due_text(datetime(2030, 1, 8, 8, 0, tzinfo=UTC), zone, now) == "tomorrow 09:00"
    assert due_text(datetime(2030, 1, 5, 8, 0, tzinfo=UTC), zone, now) == "overdue · 2 days"
    assert due_text(datetime(2030, 1, 7, 9, 0, tzinfo=UTC), zone, now) == "overdue · today 10:00"
    assert user_zone(make_user("rep", timezone="Not/AZone")).key == "UTC"


# --- calendar feed -----------------------------------------------------------------------------

def test_ical_text_escapes_special_characters():
    assert ical.escape_text("a,b;c\\d\ne\r\nf") == "a\\,b\\;c\\\\d\\ne\\nf"


def test_ical_lines_fold_at_75_octets_without_splitting_characters():
    line = "SUMMARY:" + "é" * 100  # two octets each
    folded = ical.fold_line(line)
    assert folded.endswith("\r\n")
    pieces = folded[:-2].split("\r\n")
    assert all(len(p.encode()) <= 75 for p in pieces)
    assert all(p.startswith(" ") for p in pieces[1:])
    assert "".join([pieces[0]] + [p[1:] for p in pieces[1:]]) == line
    assert ical.fold_line("SHORT:x") == "SHORT:x\r\n"


def test_calendar_feed_lists_only_that_users_tasks(make_user, make_lead):
    me, other = make_user("rep"), make_user("rep")
    lead = make_lead(owner_id=me.id, first_name="Ada", last_name="Lovelace")
    mine = _task(me, lead, "2030-01-01T09:00", title="Pricing, terms; and \\ more")
    _task(other, make_lead(owner_id=other.id), "2030-01-01T09:00", title="Not mine")
    now = datetime(2029, 12, 31, tzinfo=UTC)
    text = ical.build_calendar(services.calendar_tasks(me, now), name="Tasks", domain="crm.example.com", now=now,
                               lead_url=lambda lead_id: f"https://crm.example.com/leads/{lead_id}")
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")
    unfolded = text.replace("\r\n ", "")
    assert f"UID:task-{mine.id}@crm.example.com\r\n" in unfolded
    assert "DTSTART:20300101T090000Z\r\nDTEND:20300101T093000Z" in unfolded
    assert "SUMMARY:Call: Pricing\\, terms\\; and \\\\ more — Ada Lovelace\r\n" in unfolded
    assert f"https://crm.example.com/leads/{lead.id}" in unfolded
    assert "DTSTAMP:20291231T000000Z" in unfolded
    assert "Not mine" not in unfolded


def test_calendar_tokens_are_stored_hashed_and_revocable(make_user):
    from leadflow.activities.models import CalendarFeed

    user = make_user("rep")
    first = services.issue_calendar_token(user)
    assert services.user_for_calendar_token(first) == user
    assert first not in db.session.scalar(db.select(CalendarFeed.token_hash))
    second = services.issue_calendar_token(user)
    assert services.user_for_calendar_token(first) is None, "a new address replaces the old one"
    assert services.user_for_calendar_token(second) == user
    assert services.revoke_calendar_feed(user)
    assert services.user_for_calendar_token(second) is None
    assert services.user_for_calendar_token("") is None


def test_demo_tasks_give_my_work_something_to_show(app):
    from leadflow.accounts.models import User
    from leadflow_demo import DEMO_LOGIN, seed_demo

    seed_demo(40)
    admin = db.session.scalar(db.select(User).where(User.email == DEMO_LOGIN[0]))
    now = datetime.now(UTC)
    overdue, today = queries.overdue_and_today_tasks(admin, now)
    assert overdue, "the demo admin has overdue tasks"
    assert overdue + today + queries.upcoming_tasks(admin, now)
    assert all(t.remind_at is None for t in overdue), "a fresh demo sends no burst of overdue reminders"
