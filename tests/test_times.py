"""Every time a person reads is in their own time zone, read the same way everywhere, and
named where it matters (forms, e-mails); e-mail links start with the address LeadFlow runs at."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from leadflow.activities.models import Activity, Task
from leadflow.activities.reminders import send_task_reminders
from leadflow.extensions import db
from leadflow.leads import services as lead_services
from leadflow.mail.models import OutboxMessage
from leadflow.web.formatting import format_stored

ROOT = Path(__file__).resolve().parent.parent
UTC = timezone.utc
MOMENT = datetime(2026, 12, 2, 14, 48, tzinfo=UTC)   # the moment of the issue: 14:48 UTC, in winter
DUE = datetime(2030, 7, 1, 13, 30, tzinfo=UTC)       # in summer: New York is on daylight time then
LATE = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)      # already 3 December in Kolkata

# What a person in each zone reads for MOMENT, for DUE (zone named), and for LATE's day.
SEEN = {
    "America/New_York": ("Wed 02 Dec 2026, 09:48", "Mon 01 Jul 2030, 09:30 America/New_York (UTC-04:00)",
                         "Wed 02 Dec 2026"),
    "Asia/Kolkata": ("Wed 02 Dec 2026, 20:18", "Mon 01 Jul 2030, 19:00 Asia/Kolkata (UTC+05:30)",
                     "Thu 03 Dec 2026"),
}


def _section(html: str, start: str, end: str) -> str:
    at = html.index(start)
    return html[at:html.index(end, at)]


def _lead_with_a_note_and_a_task(make_lead, owner):
    lead = make_lead(owner_id=owner.id, first_name="Tara", last_name="Times")
    lead.created_at = MOMENT
    note = Activity(lead_id=lead.id, kind="note", body="Met at the fair", occurred_at=MOMENT, actor_id=owner.id)
    task = Task(lead_id=lead.id, kind="call", title="Call about the pilot", due_at=DUE, remind_at=DUE,
                assignee_id=owner.id, created_by_id=owner.id)
    db.session.add_all([note, task])
    db.session.commit()
    return lead, note, task


@pytest.mark.parametrize("zone", SEEN)
def test_one_moment_reads_at_the_viewers_clock_on_the_lead_page_timeline_and_tasks(login_as, make_lead, zone):
    clock, due, _ = SEEN[zone]
    rep, client = login_as("rep", timezone=zone)
    lead, note, task = _lead_with_a_note_and_a_task(make_lead, rep)

    page = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    created = _section(page, "<dt>Created</dt>", "</dd>")
    entry = _section(page, f'id="activity-{note.id}"', "</li>")
    assert f">{clock}</time>" in created and f">{clock}</time>" in entry
    assert "14:48" not in created + entry and "UTC</" not in created
    assert f'title="{due}"' in _section(page, f'id="task-{task.id}"', "</li>")

    timeline = client.get(f"/leads/{lead.id}/timeline").get_data(as_text=True)
    assert f">{clock}</time>" in _section(timeline, f'id="activity-{note.id}"', "</li>")
    my_work = client.get("/tasks").get_data(as_text=True)
    assert f'title="{due}"' in _section(my_work, f'id="task-{task.id}"', "</li>")


@pytest.mark.parametrize("zone", SEEN)
def test_the_lead_list_dates_a_lead_by_the_viewers_own_calendar_day(login_as, make_lead, zone):
    rep, client = login_as("rep", timezone=zone)
    lead = make_lead(owner_id=rep.id, first_name="Late", last_name="Arrival")
    lead.created_at = LATE
    db.session.commit()
    row = _section(client.get("/leads").get_data(as_text=True), f"/leads/{lead.id}", "</tr>")
    assert SEEN[zone][2] in row


def test_forms_that_take_a_time_name_the_zone_they_read_it_in(login_as, make_lead, make_user):
    admin, client = login_as("admin", timezone="Asia/Kolkata")
    lead = make_lead(owner_id=admin.id)
    db.session.commit()
    assert "In your time zone, Asia/Kolkata (UTC+05:30)." in client.get(f"/leads/{lead.id}").get_data(as_text=True)
    edit = client.get(f"/settings/users/{make_user('rep').id}").get_data(as_text=True)
    assert "Out of office until" in edit and "In your time zone, Asia/Kolkata (UTC+05:30)." in edit


def test_a_task_reminder_names_the_recipients_zone_and_links_to_the_base_url(app, make_user, make_lead,
                                                                              monkeypatch):
    monkeypatch.setitem(app.config, "BASE_URL", "http://127.0.0.1:8123")
    rep = make_user("rep", name="Kiran Kolkata", timezone="Asia/Kolkata")
    lead, _, _ = _lead_with_a_note_and_a_task(make_lead, rep)
    assert send_task_reminders(DUE) == 1
    message = db.session.scalar(db.select(OutboxMessage).where(OutboxMessage.kind == "task_reminder"))
    assert message.to_address == rep.email
    assert f"Due: {SEEN['Asia/Kolkata'][1]}" in message.text_body
    assert f"Open the lead: http://127.0.0.1:8123/leads/{lead.id}" in message.text_body
    assert "in your time zone, Asia/Kolkata (UTC+05:30)" in message.html_body
    assert 'href="http://127.0.0.1:8123/leads/' in message.html_body


@pytest.mark.parametrize("env, expected", [
    ({"PORT": "8123"}, "http://127.0.0.1:8123"),
    ({"PORT": "8123", "HOST": "0.0.0.0"}, "http://127.0.0.1:8123"),
    ({"PORT": "8123", "BASE_URL": "https://crm.example.com"}, "https://crm.example.com"),
])
def test_make_run_points_email_links_at_the_address_it_serves(env, expected):
    """`make run PORT=…` serves with BASE_URL set to that port, unless BASE_URL is given."""
    variables = [f"{key}={value}" for key, value in env.items() if key != "BASE_URL"]
    environ = {k: v for k, v in os.environ.items() if k not in ("BASE_URL", "MAKEFLAGS", "MAKELEVEL")}
    if "BASE_URL" in env:
        environ["BASE_URL"] = env["BASE_URL"]
    plan = subprocess.run(["make", "-n", "run", *variables], cwd=ROOT, env=environ, capture_output=True, text=True,
                          check=True, timeout=60).stdout
    [serve] = [line for line in plan.splitlines() if "leadflow serve" in line]
    assert re.search(rf'(^|\s)BASE_URL="{re.escape(expected)}"\s', serve), serve
    assert "--port 8123" in serve


def test_the_history_shows_changed_dates_like_the_rest_of_the_page(login_as, make_lead):
    admin, client = login_as("admin", timezone="Asia/Kolkata")
    lead = make_lead(owner_id=admin.id)
    lead_services.update_lead(admin, lead, {"expected_close_date": "2027-11-18"})
    db.session.commit()
    history = _section(client.get(f"/leads/{lead.id}").get_data(as_text=True), 'id="lead-history"', "</article>")
    assert "Thu 18 Nov 2027" in history and "2027-11-18" not in history


@pytest.mark.parametrize("kept, shown", [
    ("2030-01-02T09:00:00+00:00", "Wed 02 Jan 2030, 14:30"),   # a moment: in the reader's zone
    ("2030-01-02T09:00:00", "Wed 02 Jan 2030, 14:30"),         # an old entry without offset is UTC
    ("2027-11-18", "Thu 18 Nov 2027"),                         # a calendar date stays that date
    ("2030-13-45", "2030-13-45"),                              # not a date after all: as typed
    ("Acme 2030-01-02 offer", "Acme 2030-01-02 offer"),
    (None, "—"),
])
def test_a_time_kept_as_text_in_the_audit_log_reads_like_every_other(kept, shown):
    assert format_stored(kept, ZoneInfo("Asia/Kolkata")) == shown
