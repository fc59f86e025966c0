"""The timeline, tasks, "My work", board cards and the calendar feed as each role uses them."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from leadflow.activities import services
from leadflow.activities.models import Activity, Task
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads.models import Lead

UTC = timezone.utc


def _task(actor, lead, due_at: datetime, title="Call back", **fields) -> Task:
    task = Task(lead_id=lead.id, kind=fields.pop("kind", "call"), title=title, due_at=due_at, remind_at=due_at,
                assignee_id=fields.pop("assignee_id", actor.id), created_by_id=actor.id, **fields)
    db.session.add(task)
    db.session.flush()
    return task


def _local(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M")


# --- timeline: logging ---------------------------------------------------------------------

def test_logging_a_call_answers_with_the_entry_the_event_and_a_next_step_prompt(login_as, make_lead):
    rep, client = login_as("rep", htmx=True)
    lead = make_lead(owner_id=rep.id, first_name="Grace", last_name="Hopper")
    response = client.post(f"/leads/{lead.id}/activities", data={
        "kind": "call", "outcome": "left_voicemail", "duration_minutes": "3", "body": "Asked for a callback"})
    assert response.status_code == 200
    assert json.loads(response.headers["HX-Trigger"]) == {"activity-logged": {"lead": lead.id}}
    text = response.text
    assert text.lstrip().startswith('<li class="entry entry-call"')
    assert "Left voicemail" in text and "3 min" in text and "Asked for a callback" in text
    assert 'id="log-activity" hx-swap-oob="true"' in text and "Call logged." in text
    assert "Time to first response:" in text
    assert 'id="lead-tasks"' in text and "What is the next step?" in text
    assert 'value="Follow up with Grace Hopper"' in text
    db.session.refresh(lead)
    assert lead.first_response_at is not None and lead.last_activity_at is not None


def test_no_prompt_when_a_next_step_is_already_planned(login_as, make_lead):
    rep, client = login_as("rep", htmx=True)
    lead = make_lead(owner_id=rep.id)
    _task(rep, lead, utcnow() + timedelta(days=1))
    text = client.post(f"/leads/{lead.id}/activities", data={"kind": "note", "body": "Quiet week"}).text
    assert "Quiet week" in text and "What is the next step?" not in text and 'id="lead-tasks"' not in text


@pytest.mark.parametrize("data, message", [
    ({"kind": "call", "outcome": "connected", "duration_minutes": "-5"}, "cannot be negative"),
    ({"kind": "call", "outcome": "", "duration_minutes": "5"}, "Choose how the call went"),
    ({"kind": "meeting", "duration_minutes": "ten"}, "whole number of minutes"),
])
def test_bad_input_comes_back_as_the_form_with_422(login_as, make_lead, data, message):
    rep, client = login_as("rep", htmx=True)
    lead = make_lead(owner_id=rep.id)
    response = client.post(f"/leads/{lead.id}/activities", data=data)
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#log-activity"
    assert message in response.text and 'aria-invalid="true"' in response.text
    assert db.session.scalar(db.select(db.func.count(Activity.id)).where(Activity.kind == data["kind"])) == 0


def test_without_htmx_logging_redirects_to_the_lead_with_a_flash(login_as, make_lead):
    rep, client = login_as("rep")
    lead = make_lead(owner_id=rep.id)
    response = client.post(f"/leads/{lead.id}/activities", data={"kind": "email", "subject": "Intro"})
    assert response.status_code == 303
    page = client.get(f"/leads/{lead.id}").text
    assert "Activity logged." in page and "Intro" in page


@pytest.mark.parametrize("role, owned, allowed", [
    ("admin", False, True), ("manager", False, True), ("rep", True, True), ("rep", False, False),
    ("viewer", False, False),
])
def test_who_may_log_on_a_lead(login_as, make_lead, make_user, role, owned, allowed):
    user, client = login_as(role, htmx=True)
    lead = make_lead(owner_id=user.id if owned else make_user("rep").id)
    page = client.get(f"/leads/{lead.id}", headers={"HX-Request": ""}).text
    assert ('id="log-activity"' in page) is allowed
    response = client.post(f"/leads/{lead.id}/activities", data={"kind": "note", "body": "hello"})
    assert response.status_code == (200 if allowed else 403)


def test_what_people_typed_is_escaped(login_as, make_lead):
    rep, client = login_as("rep", htmx=True)
    lead = make_lead(owner_id=rep.id)
    text = client.post(f"/leads/{lead.id}/activities",
                       data={"kind": "note", "body": "<script>alert(1)</script>"}).text
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


# --- timeline: reading, filter, paging ----------------------------------------------------

def _entries(lead, count, kind="note", start=None):
    start = start or datetime(2030, 1, 1, tzinfo=UTC)
    for i in range(count):
        db.session.add(Activity(lead_id=lead.id, kind=kind, body=f"{kind} {i}", occurred_at=start + timedelta(minutes=i)))
    db.session.flush()


def test_system_entries_show_with_their_label_and_form_values(login_as, make_lead):
    _, client = login_as("viewer")
    lead = make_lead()
    db.session.add(Activity(lead_id=lead.id, kind="form_submission", subject="Contact form",
                            details={"company_size": "11-50", "message": "<b>Call me</b>"}))
    db.session.add(Activity(lead_id=lead.id, kind="score_change", subject="Score 10 → 40"))
    page = client.get(f"/leads/{lead.id}").text
    assert "Form submission" in page and "Company size" in page and "11-50" in page
    assert "&lt;b&gt;Call me&lt;/b&gt;" in page
    assert "Score change" in page and "Lead created" in page


def test_filter_by_type_is_kept_in_the_url(login_as, make_lead):
    _, client = login_as("viewer", htmx=True)
    lead = make_lead()
    _entries(lead, 2, "call")
    _entries(lead, 2, "note")
    fragment = client.get(f"/leads/{lead.id}/timeline?type=call")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert fragment.text.lstrip().startswith('<article id="timeline"')
    assert "call 1" in fragment.text and "note 1" not in fragment.text and "Lead created" not in fragment.text
    assert 'aria-current="true">Calls<' in fragment.text
    system = client.get(f"/leads/{lead.id}/timeline?type=system").text
    assert "Lead created" in system and "call 1" not in system
    # The same address opened directly (a reload, a bookmark) is the whole lead page, filtered.
    page = client.get(f"/leads/{lead.id}/timeline?type=call", headers={"HX-Request": ""}).text
    assert "<html" in page and lead.first_name in page and "note 1" not in page


def test_long_timelines_page_on_scroll_without_gaps_or_repeats(login_as, make_lead):
    _, client = login_as("viewer", htmx=True)
    lead = make_lead()
    _entries(lead, 44)
    first = client.get(f"/leads/{lead.id}/timeline?type=note").text
    seen = re.findall(r"note (\d+)<", first)
    assert len(seen) == 20 and seen[0] == "43"
    assert 'hx-trigger="revealed"' in first
    while True:
        more_url = re.search(r'class="timeline-more" hx-get="([^"]+)"', first)
        if not more_url:
            break
        first = client.get(more_url.group(1).replace("&amp;", "&")).text
        assert "<article" not in first
        seen += re.findall(r"note (\d+)<", first)
    assert seen == [str(i) for i in range(43, -1, -1)]


def test_a_bad_cursor_starts_from_the_top(login_as, make_lead):
    _, client = login_as("viewer", htmx=True)
    lead = make_lead()
    assert client.get(f"/leads/{lead.id}/timeline?after=garbage").status_code == 200


# --- tasks from the lead page -------------------------------------------------------------

def test_create_a_task_from_the_lead_page(login_as, make_lead):
    rep, client = login_as("rep", htmx=True, timezone="Europe/Paris")
    lead = make_lead(owner_id=rep.id)
    prefix = f"task{lead.id}-"
    response = client.post(f"/leads/{lead.id}/tasks", data={
        prefix + "kind": "meeting", prefix + "title": "Demo <b>day</b>", prefix + "due": "2030-06-01T10:00",
        prefix + "assignee_id": str(rep.id)})
    assert response.status_code == 200
    assert "task-changed" in response.headers["HX-Trigger"]
    assert response.text.lstrip().startswith('<article id="lead-tasks"')
    assert "Demo &lt;b&gt;day&lt;/b&gt;" in response.text
    task = db.session.scalar(db.select(Task))
    assert task.due_at == datetime(2030, 6, 1, 8, 0, tzinfo=UTC) and task.kind == "meeting"


@pytest.mark.parametrize("due, message", [("next tuesday", "YYYY-MM-DD HH:MM"), ("", "Enter when it is due")])
def test_a_due_date_in_a_wrong_format_is_a_422_with_the_form(login_as, make_lead, due, message):
    rep, client = login_as("rep", htmx=True)
    lead = make_lead(owner_id=rep.id)
    prefix = f"task{lead.id}-"
    response = client.post(f"/leads/{lead.id}/tasks", data={prefix + "title": "Call", prefix + "due": due})
    assert response.status_code == 422
    assert message in response.text and "<details class=\"next-step-form\" open" in response.text
    assert db.session.scalar(db.select(db.func.count(Task.id))) == 0


def test_viewer_cannot_create_or_complete_tasks(login_as, make_lead, make_user):
    owner = make_user("rep")
    lead = make_lead(owner_id=owner.id)
    task = _task(owner, lead, utcnow())
    _, client = login_as("viewer", htmx=True)
    assert client.post(f"/leads/{lead.id}/tasks", data={}).status_code == 403
    assert client.post(f"/tasks/{task.id}/complete", data={"version": "1"}).status_code == 403
    assert "Mark Call back done" not in client.get(f"/leads/{lead.id}").text


def test_complete_inline_then_reopen(login_as, make_lead):
    rep, client = login_as("rep", htmx=True)
    lead = make_lead(owner_id=rep.id)
    task = _task(rep, lead, utcnow() - timedelta(hours=1))
    response = client.post(f"/tasks/{task.id}/complete", data={"version": str(task.version)})
    assert response.status_code == 200
    assert json.loads(response.headers["HX-Trigger"]) == {"task-changed": {"task": task.id}}
    assert response.text.lstrip().startswith(f'<li class="task task-done" id="task-{task.id}"')
    assert "Reopen" in response.text and "It is on the lead&#39;s timeline" in response.text
    timeline = client.get(f"/leads/{lead.id}/timeline").text
    assert "Task done" in timeline and "Call: Call back" in timeline
    db.session.refresh(task)
    reopened = client.post(f"/tasks/{task.id}/reopen", data={"version": str(task.version)})
    assert reopened.status_code == 200 and "Done</button>" in reopened.text


def test_a_task_changed_meanwhile_answers_409_with_its_current_state(login_as, make_lead):
    rep, client = login_as("rep", htmx=True)
    lead = make_lead(owner_id=rep.id)
    task = _task(rep, lead, utcnow())
    old = task.version
    services.reschedule_task(rep, task, "2031-01-01T09:00")
    db.session.commit()
    response = client.post(f"/tasks/{task.id}/complete", data={"version": str(old)})
    assert response.status_code == 409
    assert "Someone else changed this task" in response.text
    db.session.refresh(task)
    assert task.done_at is None


def test_reschedule_inline(login_as, make_lead):
    rep, client = login_as("rep", htmx=True, timezone="Asia/Kolkata")
    lead = make_lead(owner_id=rep.id)
    task = _task(rep, lead, utcnow())
    editor = client.get(f"/tasks/{task.id}/reschedule")
    assert 'type="datetime-local"' in editor.text and "autofocus" in editor.text
    bad = client.post(f"/tasks/{task.id}/reschedule", data={"version": str(task.version), "due": "soon"})
    assert bad.status_code == 422 and "YYYY-MM-DD HH:MM" in bad.text
    good = client.post(f"/tasks/{task.id}/reschedule", data={"version": str(task.version), "due": "2030-01-01T10:00"})
    assert good.status_code == 200 and "Rescheduled." in good.text
    db.session.refresh(task)
    assert task.due_at == datetime(2030, 1, 1, 4, 30, tzinfo=UTC) and task.remind_at == task.due_at


# --- My work --------------------------------------------------------------------------------

def test_my_work_sections_and_empty_states(login_as, make_lead):
    rep, client = login_as("rep")
    planned = make_lead(owner_id=rep.id, first_name="Planned")
    make_lead(owner_id=rep.id, first_name="Forgotten")
    _task(rep, planned, utcnow() - timedelta(days=2), title="Send the quote")
    page = client.get("/tasks").text
    overdue = page[page.index('id="work-overdue"'):page.index('id="work-today"')]
    assert "Send the quote" in overdue and "overdue · 2 days" in overdue
    assert "Nothing else due today." in page and "Nothing planned after today" in page
    no_step = page[page.index('id="work-no-next-step"'):]
    assert "Forgotten" in no_step and "Planned" not in no_step and "Add next step for Forgotten" in no_step
    assert 'aria-current="page">My work<' in page


def test_my_work_when_everything_is_planned(login_as):
    _, client = login_as("rep")
    page = client.get("/tasks").text
    assert "Nothing overdue" in page and "Every open lead you own has a next step planned" in page


def test_managers_may_look_at_someone_elses_work_reps_may_not(login_as, make_user, make_lead):
    rep = make_user("rep", name="Rita Rep")
    _task(rep, make_lead(owner_id=rep.id), utcnow() + timedelta(days=3), title="Rita's call")
    db.session.commit()
    _, manager = login_as("manager")
    page = manager.get(f"/tasks?user={rep.id}").text
    assert "Work of Rita Rep" in page and "Rita&#39;s call" in page
    assert manager.get("/tasks?user=999999").status_code == 404


def test_reps_cannot_look_at_someone_elses_work(login_as, make_user):
    rep = make_user("rep")
    _, other_rep = login_as("rep")
    assert other_rep.get(f"/tasks?user={rep.id}").status_code == 403


def test_add_a_next_step_from_my_work(login_as, make_lead):
    rep, client = login_as("rep", htmx=True)
    lead = make_lead(owner_id=rep.id, first_name="Forgotten")
    form = client.get(f"/leads/{lead.id}/next-step?place=work&open=1")
    assert form.status_code == 200 and 'hx-target="#my-work-sections"' in form.text
    prefix = f"task{lead.id}-"
    response = client.post(f"/leads/{lead.id}/next-step?place=work", data={
        prefix + "kind": "email", prefix + "title": "Send case study", prefix + "due": _local(utcnow() + timedelta(days=2))})
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="my-work-sections"')
    assert "Next step added for Forgotten" in response.text and "Send case study" in response.text
    bad = client.post(f"/leads/{lead.id}/next-step?place=work", data={prefix + "title": "", prefix + "due": "x"})
    assert bad.status_code == 422 and bad.headers["HX-Retarget"] == f"#next-step-{lead.id}"


# --- board cards ------------------------------------------------------------------------------

def test_card_shows_the_next_task_overdue_in_words_and_the_stale_flag(login_as, make_lead):
    rep, client = login_as("rep")
    late = make_lead(owner_id=rep.id, first_name="Late")
    quiet = make_lead(owner_id=rep.id, first_name="Quiet")
    _task(rep, late, utcnow() - timedelta(days=3), title="Chase", kind="email")
    db.session.execute(db.update(Lead).where(Lead.id == quiet.id).values(
        last_activity_at=utcnow() - timedelta(days=20), created_at=utcnow() - timedelta(days=30)))
    page = client.get("/pipeline").text
    late_card = page[page.index(f'id="card-{late.id}"'):]
    late_card = late_card[:late_card.index("</article>")]
    assert "Email · overdue · 3 days" in late_card and "rot-marker" in late_card
    quiet_card = page[page.index(f'id="card-{quiet.id}"'):]
    assert "Stale: 20 days quiet" in quiet_card[:quiet_card.index("</article>")]
    assert "Add next step for Late" in late_card



def test_card_shows_the_earliest_open_task_the_oldest_of_two_due_at_once(login_as, make_lead):
    rep, client = login_as("rep")
    lead = make_lead(owner_id=rep.id, first_name="Busy")
    soon = utcnow() + timedelta(days=2)
    _task(rep, lead, utcnow() - timedelta(days=1), title="Done already", done_at=utcnow())
    _task(rep, lead, utcnow() + timedelta(days=5), title="Later")
    _task(rep, lead, soon, title="First of two")
    _task(rep, lead, soon, title="Second of two")
    page = client.get("/pipeline").text
    card = page[page.index(f'id="card-{lead.id}"'):]
    card = card[:card.index("</article>")]
    assert 'title="Next step: First of two"' in card
    assert "Done already" not in card and "Later" not in card and "Second of two" not in card

def test_stale_after_days_comes_from_the_setting(login_as, make_lead):
    from leadflow.governance.models import Setting

    rep, client = login_as("rep")
    lead = make_lead(owner_id=rep.id)
    db.session.execute(db.update(Lead).where(Lead.id == lead.id).values(last_activity_at=utcnow() - timedelta(days=5)))
    assert "Stale:" not in client.get("/pipeline").text
    db.session.add(Setting(key="stale_after_days", value=3))
    db.session.flush()  # the request reads the database, not this session's pending objects
    assert "Stale: 5 days quiet" in client.get("/pipeline").text


def test_board_queries_do_not_grow_with_cards(login_as, make_lead, count_queries, app):
    rep, client = login_as("rep")

    def board_queries() -> int:
        db.session.commit()
        with count_queries() as statements:
            assert client.get("/pipeline").status_code == 200
        return len(statements)

    for _ in range(2):
        _task(rep, make_lead(owner_id=rep.id), utcnow())
    board_queries()  # reads the reference data the process keeps (web/refcache.py)
    few = board_queries()
    for _ in range(10):
        _task(rep, make_lead(owner_id=rep.id), utcnow() + timedelta(days=1))
    assert board_queries() == few


def test_add_a_next_step_from_a_card_answers_with_the_card(login_as, make_lead):
    rep, client = login_as("rep", htmx=True)
    lead = make_lead(owner_id=rep.id)
    button = client.get(f"/leads/{lead.id}/next-step?place=card&owner=me&open=1")
    assert "place=card&amp;owner=me" in button.text
    prefix = f"task{lead.id}-"
    due = datetime.now(UTC) + timedelta(days=1)
    response = client.post(f"/leads/{lead.id}/next-step?place=card&owner=me", data={
        prefix + "kind": "call", prefix + "title": "Call about pricing", prefix + "due": _local(due)})
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<article class="card')
    assert "Call · tomorrow" in response.text


# --- calendar feed --------------------------------------------------------------------------------

def test_calendar_address_made_fetched_and_revoked(login_as, make_lead, client):
    rep, browser = login_as("rep", htmx=True)
    _task(rep, make_lead(owner_id=rep.id, first_name="Ada"), datetime(2030, 1, 2, 9, 0, tzinfo=UTC), title="Kick-off")
    assert "Create calendar address" in browser.get("/account", headers={"HX-Request": ""}).text
    made = browser.post("/account/calendar")
    assert made.status_code == 200
    url = re.search(r'id="calendar-url" type="text" readonly value="([^"]+)"', made.text).group(1)
    path = url.split("://", 1)[1].split("/", 1)[1]
    feed = client.get("/" + path)  # the calendar app: no session needed
    assert feed.status_code == 200
    assert feed.headers["Content-Type"].startswith("text/calendar")
    assert "SUMMARY:Call: Kick-off — Ada" in feed.text.replace("\r\n ", "")
    again = browser.get("/account", headers={"HX-Request": ""}).text
    assert "A calendar address is active" in again and path.split("/")[-1] not in again
    assert browser.post("/account/calendar/revoke").status_code == 200
    assert client.get("/" + path).status_code == 404


def test_a_wrong_calendar_token_is_404(client):
    assert client.get("/calendar/not-a-token.ics").status_code == 404


def test_the_calendar_feed_is_rate_limited_per_address_with_retry_after(make_app, make_user):
    user = make_user(role="rep")
    token = services.issue_calendar_token(user)
    db.session.commit()
    limited = make_app(RATELIMIT_ENABLED=True, CALENDAR_FEED_RATE_LIMIT="3 per minute").test_client()
    # Guessing tokens counts as much as fetching the real one: each address has one budget.
    statuses = [limited.get(f"/calendar/guess{n}.ics").status_code for n in range(2)]
    statuses += [limited.get(f"/calendar/{token}.ics").status_code for _ in range(2)]
    assert statuses == [404, 404, 200, 429]
    refused = limited.get(f"/calendar/{token}.ics")
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    other = limited.get(f"/calendar/{token}.ics", environ_overrides={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 200 and other.headers["Content-Type"].startswith("text/calendar")
