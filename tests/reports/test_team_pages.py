"""The pages and CSV downloads of speed to lead, team activity and lost reasons & data quality."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads.models import Lead

from tests.reports.team_helpers import activity, lead, move, task

PERIOD = {"start": "2030-03-04", "end": "2030-03-17"}


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).removeprefix("\ufeff"))))


def query(**args) -> str:
    return "&".join(f"{k}={v}" for k, v in {**PERIOD, **args}.items())


@pytest.fixture
def answered(make_user):
    """Ann's two leads answered after 2 and 30 minutes, Bob's after 2 hours, one unassigned unanswered."""
    from tests.reports.team_helpers import at
    ann, bob = make_user("rep", name="Ann Able"), make_user("rep", name="Bob Baker")
    for owner, created, minutes, source in ((ann, at(4), 2, "website"), (ann, at(5), 30, "referral"),
                                            (bob, at(12), 120, "website"), (None, at(13), None, None)):
        lead(created, owner_id=owner.id if owner else None, source=source,
             first_response_at=created + timedelta(minutes=minutes) if minutes else None)
    db.session.commit()
    return ann, bob


def test_speed_to_lead_page_shows_figures_charts_and_keeps_filters_in_the_csv_link(client, login_as, answered):
    login_as("manager")
    page = client.get("/reports/speed-to-lead?" + query(source="website"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Median 2 min</strong>, 90th percentile 2 h" in html
    assert "50 % of 2 leads answered within 5 minutes" in html
    assert 'href="/reports/speed-to-lead.csv?start=2030-03-04&amp;end=2030-03-17&amp;source=website"' in html
    assert html.count('role="img"') == 2 and "By owner" in html and "Week of" in html
    rows = csv_rows(client.get("/reports/speed-to-lead.csv?" + query()))
    assert rows[0][:3] == ["Group", "Name", "Leads"]
    assert rows[1] == ["All leads", "All leads", "4", "3", "1", "30.0", "120.0", "25.0", "50.0"]
    assert ["Owner", "Ann Able", "2", "2", "0", "2.0", "30.0", "50.0", "100.0"] in rows
    assert ["Owner", "No owner", "1", "0", "1", "", "", "0.0", "0.0"] in rows
    assert [r[1] for r in rows if r[0] == "Week of"] == ["2030-03-04", "2030-03-11"]


def test_a_rep_choosing_mine_sees_only_their_leads(client, login_as, answered):
    ann, _ = answered
    login_as(ann)
    html = client.get("/reports/speed-to-lead?" + query(owner="me")).get_data(as_text=True)
    assert "of 2 leads answered" in html and "Bob Baker" not in html.split("By owner")[1]
    rows = csv_rows(client.get("/reports/speed-to-lead.csv?" + query(owner="me")))
    assert [r[1] for r in rows if r[0] == "Owner"] == ["Ann Able"]


def test_bad_filters_are_named_not_a_500_and_an_empty_period_says_what_to_do(client, login_as, answered):
    login_as("rep")
    for slug in ("speed-to-lead", "activity", "data-quality"):
        page = client.get(f"/reports/{slug}?start=2031-02-30&owner=zz&pipeline=999999")
        assert page.status_code == 200, slug
        assert "Ignored the date “2031-02-30”" in page.get_data(as_text=True)
    empty = client.get("/reports/speed-to-lead?start=2031-01-01&end=2031-01-31").get_data(as_text=True)
    assert "No leads were created in this period." in empty and "Widen the dates" in empty


def test_team_activity_page_and_csv(client, login_as, make_user):
    from tests.reports.team_helpers import at
    manager, _ = login_as("manager", name="Meg Manager")
    ann = make_user("rep", name="Ann Able")
    bobs = lead(at(1), owner_id=make_user("rep", name="Bob Baker").id)
    mine = lead(at(1), owner_id=ann.id)
    activity(mine, "call", at(5), ann)
    activity(bobs, "email", at(6), ann)
    activity(bobs, "meeting", at(6), manager)
    task(mine, at(5), ann, done=at(6), done_by=ann)
    move(mine, "Won", at(7))
    db.session.commit()
    page = client.get("/reports/activity?" + query())
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="activity-table"' in html and html.count('role="img"') == 2
    rows = csv_rows(client.get("/reports/activity.csv?" + query()))
    assert rows == [
        ["Person", "Calls", "E-mails", "Meetings", "Tasks done", "Tasks overdue", "Leads won", "Leads lost"],
        ["Ann Able", "1", "1", "0", "1", "0", "1", "0"],
        ["Meg Manager", "0", "0", "1", "0", "0", "0", "0"],
        ["Everyone", "1", "1", "1", "1", "0", "1", "0"],
    ]
    empty = client.get("/reports/activity?start=2031-01-01&end=2031-01-31").get_data(as_text=True)
    assert "Nothing logged in this period." in empty


@pytest.fixture
def untidy(make_user):
    from tests.reports.team_helpers import at
    old = utcnow() - timedelta(days=120)
    quiet = [lead(old, first_name=f"Quiet{i}", source="event") for i in range(3)]
    lead(old, first_name="Busy", last_activity_at=utcnow() - timedelta(days=3), source="event")
    lead(at(1), phone="+12025550100", source="event")
    lead(at(1), phone="+12025550100", source="website")
    for reason in ("Budget", "Budget", ""):
        move(lead(at(1), won_lost_reason=reason, source="event"), "Lost", at(6))
    db.session.commit()
    return quiet


def test_data_quality_page_counts_and_links_each_problem_to_its_queue(client, login_as, untidy):
    login_as("manager")
    html = client.get("/reports/data-quality?" + query()).get_data(as_text=True)
    assert "<th scope=\"row\" class=\"wrap\">Budget</th><td class=\"num\">2</td>" in html
    assert "No reason given" in html
    assert 'href="/reports/data-quality/review?queue=untouched&amp;start=2030-03-04&amp;end=2030-03-17">Review 3</a>' in html
    assert 'href="/leads/duplicates">Open the duplicates queue</a>' in html
    assert 'href="/leads?owner=none">Assign them on the lead list</a>' in html
    rows = csv_rows(client.get("/reports/data-quality.csv?" + query(source="event")))
    assert ["Lost", "Budget", "2"] in rows and ["Lost", "No reason given", "1"] in rows
    assert ["Data quality", "Open leads untouched for 90+ days", "3"] in rows
    assert ["Data quality", "Possible duplicate pairs involving these leads", "1"] in rows  # one of the pair is an event lead
    outside = csv_rows(client.get("/reports/data-quality.csv?" + query(source="referral")))
    assert ["Data quality", "Possible duplicate pairs involving these leads", "0"] in outside


def test_the_untouched_queue_archives_ticked_leads_through_the_lead_lists_bulk_action(client, login_as, untidy):
    _, http = login_as("manager")
    html = client.get("/reports/data-quality/review?queue=untouched&source=event").get_data(as_text=True)
    assert "3 leads." in html and 'action="/leads/bulk"' in html and "Archive (move to the trash)" in html
    assert 'name="scope" value="selected"' in html and 'value="filter"' not in html
    ids = [untidy[0].id, untidy[1].id]
    queue = "/reports/data-quality/review?queue=untouched&source=event"
    assert f'name="return_to" value="{queue.replace("&", "&amp;")}"' in html
    done = http.post("/leads/bulk", data={"action": "archive", "lead_ids": ids, "scope": "selected",
                                            "return_query": "", "return_to": queue})
    assert done.status_code == 303 and done.headers["Location"] == queue  # back on the queue, not the lead list
    assert db.session.scalar(db.select(db.func.count()).where(Lead.id.in_(ids), Lead.deleted_at.is_not(None))) == 2
    after = client.get(queue).get_data(as_text=True)
    assert "Archived 2 leads." in after
    assert "1 lead." in after and "Quiet2" in after and "Quiet0" not in after


def test_a_refused_bulk_action_from_the_queue_says_why_on_the_queue(client, login_as, untidy):
    _, http = login_as("manager")
    queue = "/reports/data-quality/review?queue=untouched"
    refused = http.post("/leads/bulk", data={"action": "archive", "lead_ids": [], "scope": "selected",
                                               "return_to": queue})
    assert refused.status_code == 303 and refused.headers["Location"] == queue
    assert "Untouched for 90+ days" in (page := client.get(queue).get_data(as_text=True))
    assert 'class="flash' in page and "Quiet0" in page


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_a_bulk_action_never_returns_to_another_site(client, login_as, untidy, target):
    _, http = login_as("manager")
    done = http.post("/leads/bulk", data={"action": "archive", "lead_ids": [untidy[0].id], "scope": "selected",
                                            "return_to": target})
    assert done.status_code == 303 and done.headers["Location"] == "/"


def test_a_viewer_sees_the_queue_without_bulk_actions_and_an_empty_queue_says_so(client, login_as, untidy):
    login_as("viewer")
    html = client.get("/reports/data-quality/review?queue=untouched").get_data(as_text=True)
    assert "Quiet0" in html and "bulk-form" not in html
    empty = client.get("/reports/data-quality/review?queue=no_email&source=nothing").get_data(as_text=True)
    assert "Nothing to review here." in empty
