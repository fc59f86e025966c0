"""Settings → Outbox for admins, and the alert and digest settings on Settings → Workspace."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.governance.settings import alert_settings
from leadflow.mail.models import OutboxMessage
from leadflow.mail.services import RenderedMail, enqueue_mail


def _queue(n: int = 1, state: str | None = None, **fields) -> list[int]:
    ids = []
    for i in range(n):
        mail = RenderedMail(fields.get("subject", f"Reminder {i}"), fields.get("text", f"Body {i}"), "<p>x</p>")
        message_id = enqueue_mail(to=f"rep{i}@example.com", kind="task_reminder", mail=mail,
                                  idempotency_key=f"{state}-{i}-{fields.get('subject', '')}")
        if state:
            db.session.get(OutboxMessage, message_id).state = state
        ids.append(message_id)
    db.session.commit()
    return ids


@pytest.mark.parametrize("role", ["manager", "rep", "viewer"])
def test_only_admins_open_the_outbox(app, login_as, role):
    [message_id] = _queue()
    _, client = login_as(role)
    assert client.get("/settings/outbox").status_code == 403
    assert client.get(f"/settings/outbox/{message_id}").status_code == 403
    assert client.post(f"/settings/outbox/{message_id}/retry").status_code == 403


def test_an_empty_outbox_says_what_will_appear_and_that_no_mail_server_is_set(app, login_as):
    _, client = login_as("admin")
    page = client.get("/settings/outbox").get_data(as_text=True)
    assert "No e-mail yet." in page
    assert "No mail server is configured." in page and "SMTP_HOST" in page
    assert 'aria-current="page">Outbox<' in page


def test_the_banner_is_gone_once_smtp_is_configured(app, login_as):
    app.config["SMTP_HOST"] = "mail.example.com"
    _, client = login_as("admin")
    assert "No mail server is configured." not in client.get("/settings/outbox").get_data(as_text=True)


def test_the_list_filters_by_state_and_pages(app, login_as):
    _queue(52, state="held")
    _queue(2, state="failing", subject="Broken one")
    _, client = login_as("admin")
    page = client.get("/settings/outbox").get_data(as_text=True)
    assert "Showing 1–50 of 54 messages" in page and "rel=\"next\"" in page
    second = client.get("/settings/outbox?page=2").get_data(as_text=True)
    assert "Showing 51–54 of 54 messages" in second
    failing = client.get("/settings/outbox?state=failing").get_data(as_text=True)
    assert "Showing 1–2 of 2 messages" in failing and "Broken one" in failing and "Reminder 3" not in failing
    assert "Retry all failing now (2)" in failing
    fragment = client.get("/settings/outbox?state=sent", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<nav" not in html and "No sent messages." in html


def test_opening_a_message_shows_its_text_escaped_and_its_message_id(app, login_as):
    [message_id] = _queue(subject="Call <b>Ada</b>", text="Hello <script>alert(1)</script>\nSecond line")
    _, client = login_as("admin")
    page = client.get(f"/settings/outbox/{message_id}").get_data(as_text=True)
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "Call &lt;b&gt;Ada&lt;/b&gt;" in page
    assert f"&lt;outbox-{message_id}." in page
    assert client.get("/settings/outbox/999999").status_code == 404


def test_retry_now_makes_a_failing_message_due_and_says_so(app, login_as):
    [message_id] = _queue(state="failing")
    message = db.session.get(OutboxMessage, message_id)
    message.next_attempt_at, message.attempts, message.last_error = utcnow() + timedelta(hours=3), 7, "timed out"
    db.session.commit()
    _, client = login_as("admin")
    page = client.get(f"/settings/outbox/{message_id}").get_data(as_text=True)
    assert "Retry now" in page and "timed out" in page
    response = client.post(f"/settings/outbox/{message_id}/retry")
    assert response.status_code == 303
    db.session.expire_all()
    message = db.session.get(OutboxMessage, message_id)
    assert message.state == "held" and message.next_attempt_at <= utcnow()
    assert "kept here until a mail server is configured" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_retry_all_failing(app, login_as):
    _queue(3, state="failing")
    _, client = login_as("admin")
    response = client.post("/settings/outbox/retry-failing")
    assert response.status_code == 303
    assert "3 failing messages will be tried again within a few seconds" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).where(OutboxMessage.state == "failing")) == 0


def test_a_sent_message_cannot_be_sent_again_from_the_page(app, login_as):
    [message_id] = _queue(state="sent")
    _, client = login_as("admin")
    assert "Retry now" not in client.get(f"/settings/outbox/{message_id}").get_data(as_text=True)
    response = client.post(f"/settings/outbox/{message_id}/retry")
    assert "already gone out" in client.get(response.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message_id).state == "sent"


def test_a_message_sent_again_after_its_scheduler_died_says_so_as_a_note_not_an_error(app, login_as):
    from leadflow.mail.delivery import INTERRUPTED

    [message_id] = _queue(state="sent")
    db.session.execute(db.update(OutboxMessage).values(last_error=INTERRUPTED, attempts=2))
    db.session.commit()
    _, client = login_as("admin")
    page = client.get(f"/settings/outbox/{message_id}").get_data(as_text=True)
    assert "<dt>Note</dt><dd>The scheduler sending this message stopped mid-attempt" in page
    assert "Last error" not in page and "send it again" not in page


def test_an_unconfirmed_message_is_flagged_and_the_admin_decides_whether_it_goes_again(app, login_as):
    from leadflow.mail.delivery import STUCK

    arrived, lost = _queue(2, state="unknown")
    started = utcnow() - timedelta(minutes=5)
    db.session.execute(db.update(OutboxMessage).values(last_error=STUCK, attempt_id="a1b2c3d4e5f60718",
                                                       attempt_started_at=started))
    db.session.commit()
    _, client = login_as("admin")
    page = client.get("/settings/outbox").get_data(as_text=True)
    assert "2 messages are not confirmed." in page and "Not confirmed, check before resending" in page
    page = client.get(f"/settings/outbox/{arrived}").get_data(as_text=True)
    assert "not sent again by itself" in page and "a1b2c3d4e5f60718" in page
    assert "It did not arrive: send it again" in page and "It arrived: mark it as sent" in page

    client.post(f"/settings/outbox/{arrived}/delivered")
    response = client.post(f"/settings/outbox/{lost}/retry")
    assert "kept here until a mail server is configured" in client.get(response.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    confirmed, again = db.session.get(OutboxMessage, arrived), db.session.get(OutboxMessage, lost)
    assert (confirmed.state, confirmed.sent_at) == ("sent", started)
    assert again.state == "held" and again.next_attempt_at <= utcnow()  # no mail server in this test
    assert "not confirmed" not in client.get("/settings/outbox").get_data(as_text=True)
    response = client.post(f"/settings/outbox/{arrived}/delivered")  # only an unconfirmed one
    assert "Only a message that is not confirmed" in client.get(response.headers["Location"]).get_data(as_text=True)


# --- alert and digest settings ----------------------------------------------------------

WORKSPACE = {"workspace_name": "Acme", "default_phone_region": "US", "default_currency": "USD"}


def test_the_settings_page_shows_the_alert_and_digest_settings_with_defaults(app, login_as):
    _, client = login_as("admin")
    page = client.get("/settings").get_data(as_text=True)
    for field, value in (("speed_to_lead_minutes", 5), ("escalate_after_minutes", 30), ("stale_after_days", 14),
                         ("digest_hour", 8)):
        assert f'for="{field}"' in page and f'value="{value}"' in page


def test_an_admin_changes_the_alert_times(app, login_as):
    _, client = login_as("admin")
    response = client.post("/settings", data={**WORKSPACE, "speed_to_lead_minutes": "10",
                                              "escalate_after_minutes": "60", "stale_after_days": "21",
                                              "digest_hour": "7"})
    assert response.status_code == 302
    db.session.expire_all()
    assert alert_settings() == {"speed_to_lead_minutes": 10, "escalate_after_minutes": 60, "stale_after_days": 21,
                                "digest_hour": 7}


@pytest.mark.parametrize("field, value, message", [
    ("digest_hour", "24", "Enter an hour from 0 to 23."),
    ("stale_after_days", "0", "Enter a number of days from 1 to 365."),
    ("speed_to_lead_minutes", "soon", "Not a valid integer value."),
    ("escalate_after_minutes", "3", "Escalate later than the speed-to-lead alert"),
])
def test_bad_alert_settings_are_refused_with_a_message_and_nothing_is_saved(app, login_as, field, value, message):
    _, client = login_as("admin")
    response = client.post("/settings", data={**WORKSPACE, "workspace_name": "Changed", field: value})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    from leadflow.governance.settings import get_setting

    assert get_setting("workspace_name") == "LeadFlow"
    assert alert_settings()["digest_hour"] == 8
