"""A person in Los Angeles reads one moment at their own clock on every main page, and
nowhere at UTC's: the lead page (its fields, timeline, tasks, history and the submitted values
to review), the merge screen, the timeline, the task list, an import's page, the settings
pages and the board."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from leadflow.accounts.system import system_actor
from leadflow.activities.models import Activity, Task
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry, ExchangeRate
from leadflow.imports.models import ImportJob
from leadflow.leads.intake import intake_lead
from leadflow.leads.models import Lead
from leadflow.leads.reviews import submission_rows
from leadflow.sequences.services import unsubscribe_lead

ZONE = "America/Los_Angeles"
# 03:30 UTC on Thursday 6 March is 19:30 on Wednesday 5 March in Los Angeles: a wrong zone
# shows the wrong clock *and* the wrong day. (Long ago, so that no "now" on a page is that day.)
MOMENT = datetime(2025, 3, 6, 3, 30, tzinfo=timezone.utc)
LOCAL = "Wed 05 Mar 2025, 19:30"
LOCAL_DAY = "Wed 05 Mar 2025"
# How the same moment reads in UTC, in any of the shapes a page could take.
UTC_SHAPES = (", 03:30", "T03:30", " 03:30 ", "Thu 06 Mar", "2025-03-06", "06 Mar 2025", "6 Mar 2025")


def visible_text(page: str) -> str:
    """What a person reads: the page without its scripts and tags, attributes (titles) kept."""
    page = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    titles = " ".join(re.findall(r'(?:title|aria-label|datetime)="([^"]*)"', page))
    return re.sub(r"<[^>]+>", " ", page) + " " + titles


def assert_local_only(page: str, where: str, expected=(LOCAL,)) -> None:
    text = visible_text(page)
    for shape in UTC_SHAPES:
        assert shape not in text, f"{where} shows the UTC reading “{shape}”"
    for local in expected:
        assert local in text, f"{where} does not show “{local}”"


@pytest.fixture
def scene(login_as, make_lead):
    """An admin in Los Angeles, and records that all happened at MOMENT."""
    admin, client = login_as("admin", timezone=ZONE)
    lead = make_lead(first_name="Tara", last_name="Times", email="tara@example.com", owner_id=admin.id,
                     value="1000", currency="EUR")
    twin = make_lead(first_name="Tara", last_name="Times", email="tara.times@example.org", owner_id=admin.id)
    note = Activity(lead_id=lead.id, kind="note", body="Met at the fair", occurred_at=MOMENT, actor_id=admin.id)
    task = Task(lead_id=lead.id, kind="call", title="Call about the pilot", due_at=MOMENT,
                assignee_id=admin.id, created_by_id=admin.id)
    db.session.add_all([note, task])
    lead.marketing_consent, lead.consent_at = True, MOMENT
    twin.marketing_consent, twin.consent_at = True, MOMENT
    db.session.flush()
    unsubscribe_lead(lead)
    db.session.commit()
    # A public form sends consent again: the lead page asks to review it ("Submitted values to review").
    intake_lead({"email": "tara@example.com"}, channel="form", actor=system_actor("Capture form “Contact us”"),
                activity_details={"form_id": 1, "form_name": "Contact us"},
                consent={"text": "Send me news.", "source": "Form “Contact us”", "ip": "203.0.113.9"})
    db.session.add(ExchangeRate(base_currency="USD", currency="EUR", rate=1.08, set_by_id=admin.id))
    job = ImportJob(created_by_id=admin.id, filename="contacts.csv", stored_name="x" * 32, status="done",
                    total_rows=1, rows_done=1, created_count=1)
    db.session.add(job)
    db.session.commit()
    # Every record of the scene happened at MOMENT.
    for model, column in ((Lead, Lead.created_at), (Lead, Lead.stage_entered_at), (Lead, Lead.last_activity_at),
                          (Activity, Activity.occurred_at),
                          (AuditEntry, AuditEntry.at), (ExchangeRate, ExchangeRate.set_at),
                          (ImportJob, ImportJob.created_at)):
        db.session.execute(update(model).values({column.key: MOMENT}))
    db.session.execute(update(Lead).where(Lead.id == lead.id).values(unsubscribed_at=MOMENT, marketing_consent=False))
    db.session.commit()
    db.session.expire_all()
    return {"client": client, "lead": lead, "twin": twin, "task": task, "job": job}


def test_a_user_in_los_angeles_reads_every_main_page_at_their_own_clock(scene):
    client, lead, twin = scene["client"], scene["lead"], scene["twin"]
    pages = {
        "the lead page": f"/leads/{lead.id}",
        "the timeline": f"/leads/{lead.id}/timeline",
        "the lead's history (audit log)": f"/leads/{lead.id}/history",
        "the merge screen": f"/leads/{lead.id}/merge?with={twin.id}",
        "the task list": "/tasks",
        "the currency settings": "/settings/currency",
    }
    for where, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, where
        assert_local_only(response.get_data(as_text=True), where)
    # Pages that show no clock time of these records still show no UTC reading of them.
    for where, url in {"the import's page": f"/imports/{scene['job'].id}", "the lead list": "/leads",
                       "the board": "/pipeline", "the settings": "/settings", "the users": "/settings/users"}.items():
        response = client.get(url)
        assert response.status_code == 200, where
        assert_local_only(response.get_data(as_text=True), where, expected=())


def test_the_merge_screen_shows_creation_and_consent_at_the_readers_clock(scene):
    client, lead, twin = scene["client"], scene["lead"], scene["twin"]
    page = client.get(f"/leads/{twin.id}/merge?with={lead.id}").get_data(as_text=True)
    created = visible_text(re.search(r'<tr class="merge-created">.*?</tr>', page, re.S).group(0))
    assert created.count(LOCAL) == 2 and "America/Los_Angeles (UTC-08:00)" in created
    consent = visible_text(re.search(r'id="label-consent".*?</tr>', page, re.S).group(0))
    assert f"Yes, since {LOCAL}" in consent
    value = visible_text(re.search(r'id="label-value".*?</tr>', page, re.S).group(0))
    assert "€1,000" in value  # the value with its currency


def test_the_review_of_a_consent_given_again_names_the_unsubscription_day_in_the_readers_zone(scene):
    page = scene["client"].get(f"/leads/{scene['lead'].id}").get_data(as_text=True)
    panel = visible_text(re.search(r'<article id="field-reviews".*?</article>', page, re.S).group(0))
    assert f"marketing is off (unsubscribed {LOCAL_DAY})" in panel
    assert "2025-03-06" not in panel


def test_a_note_kept_for_later_gives_its_moment_with_an_offset_and_reads_in_each_readers_zone():
    details = {"values": {"phone": "+14155550100"}, "kept": {"phone": "changed 2025-03-06T03:30:00+00:00"}}
    (_, _, note), = submission_rows(details, zone=ZoneInfo(ZONE))
    assert note == f"not used: the lead keeps changed {LOCAL_DAY} until someone reviews it"
    (_, _, note), = submission_rows(details, zone=ZoneInfo("Asia/Kolkata"))
    assert "Thu 06 Mar 2025" in note
