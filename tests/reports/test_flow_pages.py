"""The time-in-stage, forecast and velocity pages, their CSV downloads, and the monthly
targets admins set: what each role sees, filters kept in the address and the CSV link."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.reports.models import MonthlyTarget

from tests.reports.flow_data import at, past_lead, stages

OCTOBER = "start=2026-10-01&end=2026-10-31"


def _csv(response):
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).removeprefix("\ufeff"))))


@pytest.fixture
def october(app):
    """Two leads through New in October (6 and 2 days), one moving back, one won for USD 1,000."""
    ids = {
        "A": past_lead("Ada", at(9, 25), "New", [(at(10, 1), "Contacted"), (at(10, 4), "Qualified"), (at(10, 14), "Won")],
                       value=100000),
        "B": past_lead("Bo", at(10, 2), "New", [(at(10, 4), "Qualified"), (at(10, 8), "Contacted")], value=50000,
                       close=date(2026, 12, 15)),
    }
    db.session.commit()
    return ids


def test_time_in_stage_page_and_its_csv(client, login_as, october):
    login_as("manager")
    page = client.get(f"/reports/time-in-stage?{OCTOBER}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<caption>Days in each open stage of Sales</caption>' in html
    assert '<tr><th scope="row">New</th><td class="num">2</td>\n    <td class="num">4.0</td>' in html
    assert f'href="/leads/{october["B"]}">Bo Example</a>' in html  # stuck: Bo, in Contacted
    assert '<tr><th scope="row">Qualified</th><td>Contacted</td><td class="num">1</td><td class="num">1</td></tr>' in html
    assert 'href="/reports/time-in-stage.csv?start=2026-10-01&amp;end=2026-10-31"' in html
    assert 'role="img"' in html
    rows = _csv(client.get(f"/reports/time-in-stage.csv?{OCTOBER}"))
    assert rows[0][:5] == ["Section", "Stage", "Stays ended in the period", "Median days", "90th percentile days"]
    assert rows[1][:5] == ["Stage", "New", "2", "4.0", "6.0"] and rows[2][:5] == ["Stage", "Contacted", "1", "3.0", "3.0"]
    stuck = [row for row in rows if row[0] == "Stuck longest"]  # Bo, in Contacted since October 8
    assert [row[1] for row in stuck] == ["Contacted"] and stuck[0][7:10] == ["Bo Example", str(october["B"]), "2026-10-08T12:00:00+00:00"]
    assert [row for row in rows if row[0] == "Moved backwards"] == [
        ["Moved backwards", "Qualified"] + [""] * 9 + ["Contacted", "1", "1"]]
    assert all(len(row) == len(rows[0]) for row in rows)


def test_time_in_stage_for_a_rep_counts_only_their_leads_with_owner_me(client, login_as, make_user):
    rep, _ = login_as("rep")
    past_lead("Mine", at(10, 1), "New", [(at(10, 3), "Contacted")], owner_id=rep.id)
    past_lead("Theirs", at(10, 1), "New", [(at(10, 9), "Contacted")], owner_id=make_user(role="rep").id)
    db.session.commit()
    mine = _csv(client.get(f"/reports/time-in-stage.csv?{OCTOBER}&owner=me"))
    assert mine[1][1:5] == ["New", "1", "2.0", "2.0"]
    everyone = _csv(client.get(f"/reports/time-in-stage.csv?{OCTOBER}"))
    assert everyone[1][1:5] == ["New", "2", "5.0", "8.0"]
    html = client.get(f"/reports/time-in-stage?{OCTOBER}&owner=me").get_data(as_text=True)
    assert "Mine Example" in html and "Theirs Example" not in html


def test_an_empty_time_in_stage_says_what_to_do(client, login_as):
    login_as("viewer")
    html = client.get("/reports/time-in-stage?start=2025-01-01&end=2025-01-31").get_data(as_text=True)
    assert "There is no pipeline yet." in html and "Set up a pipeline" in html
    stages()
    db.session.commit()
    html = client.get("/reports/time-in-stage?start=2025-01-01&end=2025-01-31").get_data(as_text=True)
    assert "No lead left a stage of Sales in this period" in html and 'href="/pipeline/' in html
    assert 'id="stage-times"' not in html.split("No lead left")[0]


def test_bad_filters_are_a_message_not_an_error(client, login_as, october):
    login_as("rep")
    for slug in ("time-in-stage", "forecast", "velocity"):
        page = client.get(f"/reports/{slug}?start=yesterday&pipeline=99999999999&owner=<b>")
        assert page.status_code == 200, slug
        html = page.get_data(as_text=True)
        assert "Ignored the date “yesterday”" in html and "Ignored the owner" in html
        assert client.get(f"/reports/{slug}.csv?start=yesterday").status_code == 200


def test_forecast_page_shows_open_value_by_close_month_and_won_against_the_target(client, login_as, october):
    db.session.add(MonthlyTarget(month=date(2026, 10, 1), amount_cents=200000, currency="USD"))
    db.session.commit()
    login_as("admin")
    html = client.get(f"/reports/forecast?{OCTOBER}").get_data(as_text=True)
    assert '<caption>Open deals by expected close month, in USD</caption>' in html
    assert '<th scope="row">Dec 2026</th>' in html and "$500" in html and "$100" in html  # 20 % in Contacted
    assert '<tr><th scope="row">Oct 2026</th><td class="num">1</td>\n    <td class="num">$1,000</td>' in html
    assert ">50%</td>" in html  # $1,000 of a $2,000 target
    assert 'href="/settings/targets">Change the monthly targets' in html
    rows = _csv(client.get(f"/reports/forecast.csv?{OCTOBER}"))
    assert rows[0][:5] == ["Figure", "Month", "Deals", "Overdue deals", "Value (USD)"]
    assert ["Open", "2026-12", "1", "0", "500", "100"] == rows[1][:6]
    assert rows[2][:8] == ["Won", "2026-10", "1", "", "1000", "", "2000", "50"]


def test_forecast_tells_a_rep_targets_are_an_admins(client, login_as, october):
    login_as("rep")
    html = client.get(f"/reports/forecast?{OCTOBER}").get_data(as_text=True)
    assert "No monthly target is set for these months." in html and "An admin can set them." in html
    assert "/settings/targets" not in html


def test_overdue_close_dates_are_flagged(client, login_as):
    past_lead("Late", utcnow() - timedelta(days=80), "Qualified", value=10000, close=date.today() - timedelta(days=70))
    db.session.commit()
    login_as("manager")
    html = client.get("/reports/forecast").get_data(as_text=True)
    assert '<span class="badge badge-warning">overdue</span>' in html
    assert "<td class=\"num\"><strong>1</strong></td>" in html


def test_velocity_page_shows_its_four_inputs_and_a_month_row(client, login_as, october):
    login_as("manager")
    html = client.get(f"/reports/velocity?{OCTOBER}").get_data(as_text=True)
    assert 'id="velocity-inputs"' in html and html.count('<svg class="sparkline"') == 4
    assert "<dt>× Win rate</dt><dd>100%" in html  # Ada won, nobody lost
    assert '<caption>Pipeline velocity and its inputs, each month, in USD</caption>' in html
    rows = _csv(client.get(f"/reports/velocity.csv?{OCTOBER}"))
    assert rows[0][:4] == ["Month", "Open deals at its end", "Won", "Lost"]
    # One open deal at the end (Bo), 1 of 1 won, USD 1,000, 19 days from creation (25 Sep) to the win (14 Oct):
    # 1 × 1 × 1,000 ÷ 19 = 52.63 a day.
    assert rows[1][:8] == ["2026-10", "1", "1", "0", "100.0", "1000.00", "19.0", "52.63"]
    assert rows[2][0] == "Period (Oct 2026)"


def test_the_index_shows_the_three_reports(client, login_as, october):
    login_as("viewer")
    html = client.get("/reports").get_data(as_text=True)
    for href in ("/reports/time-in-stage", "/reports/forecast", "/reports/velocity"):
        assert f'href="{href}"' in html


# --- monthly targets ---------------------------------------------------------------------------

def test_an_admin_sets_changes_and_removes_a_target(client, login_as):
    _, http = login_as("admin")
    assert "No monthly targets yet." in client.get("/settings/targets").get_data(as_text=True)
    saved = http.post("/settings/targets", data={"month": "2026-11", "pipeline": "", "amount": "25,000"})
    assert saved.status_code == 303
    http.post("/settings/targets", data={"month": "2026-11", "pipeline": "", "amount": "30000"})
    [target] = db.session.scalars(db.select(MonthlyTarget)).all()
    assert (target.month, target.amount_cents, target.currency) == (date(2026, 11, 1), 3000000, "USD")
    html = client.get("/settings/targets").get_data(as_text=True)
    assert "November 2026" in html and "$30,000" in html
    assert http.post(f"/settings/targets/{target.id}/delete").status_code == 303
    assert db.session.scalars(db.select(MonthlyTarget)).all() == []


@pytest.mark.parametrize("month, amount, message", [
    ("", "100", "Choose a month."), ("2026-13", "100", "Enter a month as YYYY-MM, for example 2026-11."),
    ("1999-12", "100", "Choose a month from 2000 to 2099."), ("2026-11", "lots", "Enter an amount such as"),
    ("2026-11", "-5", "The value cannot be negative."), ("2026-11", "", "Enter an amount, for example 25000."),
])
def test_a_bad_target_is_refused_with_a_message(client, login_as, month, amount, message):
    _, http = login_as("admin")
    response = http.post("/settings/targets", data={"month": month, "pipeline": "", "amount": amount})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalars(db.select(MonthlyTarget)).all() == []


def test_a_target_without_the_csrf_token_is_refused(client, login_as):
    login_as("admin")
    response = client.post("/settings/targets", data={"month": "2026-11", "pipeline": "", "amount": "100"})
    assert response.status_code in (400, 403)
    assert db.session.scalars(db.select(MonthlyTarget)).all() == []


def test_a_refused_target_keeps_what_was_typed(client, login_as):
    _, http = login_as("admin")
    html = http.post("/settings/targets", data={"month": "2026-11", "pipeline": "", "amount": "lots"}).get_data(as_text=True)
    assert 'value="2026-11"' in html and 'value="lots"' in html


def test_the_board_forecast_links_to_the_reports_for_its_pipeline(client, login_as, october):
    login_as("rep")
    pipeline_id = stages()["New"].pipeline_id
    html = client.get(f"/pipeline/{pipeline_id}/forecast").get_data(as_text=True)
    for slug in ("forecast", "time-in-stage", "velocity"):
        assert f'href="/reports/{slug}?pipeline={pipeline_id}"' in html


def test_empty_forecast_and_velocity_say_what_to_do(client, login_as):
    login_as("rep")
    forecast = client.get("/reports/forecast?start=2025-01-01&end=2025-01-31").get_data(as_text=True)
    assert "No open deals with these filters, and nothing won in this period." in forecast
    assert "expected close date" in forecast and 'id="won-by-month"' not in forecast
    velocity = client.get("/reports/velocity?start=2025-01-01&end=2025-01-31").get_data(as_text=True)
    assert "No open deals at the end of this period and none closed in it with these filters." in velocity
    assert 'id="velocity-inputs"' not in velocity
