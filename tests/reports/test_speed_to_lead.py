"""Speed to lead against a small hand-checked fortnight (see each test's data)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from leadflow.activities import services as activity_services
from leadflow.extensions import db
from leadflow.reports.speed_to_lead import NO_OWNER, NO_SOURCE, speed_to_lead, week_starts, weekly

from tests.reports.team_helpers import END, START, UTC, at, lead, live_lead_ids, trash

UTC_ZONE = ZoneInfo("UTC")


@pytest.fixture
def fortnight(app, make_user):
    """Six leads in the period (answered after 120 s, 300 s, 1800 s, 7200 s, 3660 s and one not
    yet), one trashed and two just outside it."""
    ann, bob = make_user("rep", name="Ann"), make_user("rep", name="Bob")

    def answered(created, seconds, **columns):
        return lead(created, first_response_at=created + timedelta(seconds=seconds), **columns)

    answered(at(4), 120, owner_id=ann.id, source="website")
    answered(at(5), 300, owner_id=ann.id, source="website")          # exactly 5 minutes: within
    answered(at(6), 1800, owner_id=ann.id, source="referral")
    answered(at(11, 9), 7200, owner_id=bob.id, source="website")
    lead(at(12), owner_id=bob.id, source=None)                        # not answered yet
    answered(at(13), 3660, owner_id=None, source="referral")          # 61 minutes: not within 1 hour
    trash(answered(at(5), 60, owner_id=ann.id, source="website"))     # in the trash: left out
    answered(at(3, 23, 59, 59), 60, owner_id=ann.id, source="website")  # the day before the period
    answered(END, 60, owner_id=ann.id, source="website")              # the first instant after it
    return ann, bob


def test_overall_median_p90_shares_and_unanswered(fortnight):
    report = speed_to_lead(live_lead_ids(), START, END, UTC_ZONE)
    row = report.overall
    assert (row.leads, row.answered, row.unanswered) == (6, 5, 1)
    # answered, fastest first: 120, 300, 1800, 3660, 7200 -> median is the 3rd, p90 the 5th
    assert (row.median_seconds, row.p90_seconds) == (1800, 7200)
    assert (row.within_5_min, row.within_1_hour) == (2, 3)
    assert row.share_5_min == pytest.approx(2 / 6) and row.share_1_hour == pytest.approx(3 / 6)


def test_by_owner_counts_the_leads_owner_and_puts_unowned_leads_last(fortnight):
    rows = speed_to_lead(live_lead_ids(), START, END, UTC_ZONE).by_owner
    assert [(r.label, r.leads, r.answered, r.median_seconds, r.p90_seconds, r.within_5_min, r.within_1_hour)
            for r in rows] == [
        ("Ann", 3, 3, 300, 1800, 2, 3),       # 120, 300, 1800: median the 2nd, p90 the 3rd
        ("Bob", 2, 1, 7200, 7200, 0, 0),      # one unanswered: not in the median
        (NO_OWNER, 1, 1, 3660, 3660, 0, 0),
    ]
    assert rows[0].key == fortnight[0].id and rows[-1].key is None


def test_by_source_uses_the_lower_median_for_an_even_count(fortnight):
    rows = speed_to_lead(live_lead_ids(), START, END, UTC_ZONE).by_source
    assert [(r.label, r.leads, r.answered, r.median_seconds, r.p90_seconds) for r in rows] == [
        ("website", 3, 3, 300, 7200),
        ("referral", 2, 2, 1800, 3660),       # 1800, 3660: median the 1st, p90 the 2nd
        (NO_SOURCE, 1, 0, None, None),
    ]


def test_weekly_trend_has_a_median_per_week_of_the_period(fortnight):
    rows = speed_to_lead(live_lead_ids(), START, END, UTC_ZONE).weekly
    assert [(r.key, r.leads, r.answered, r.median_seconds, r.p90_seconds) for r in rows] == [
        (date(2030, 3, 4), 3, 3, 300, 1800),
        (date(2030, 3, 11), 3, 2, 3660, 7200),
    ]


def test_an_empty_period_has_no_median_and_empty_weeks(fortnight):
    start, end = datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 1, 15, tzinfo=UTC)
    report = speed_to_lead(live_lead_ids(), start, end, UTC_ZONE)
    assert (report.overall.leads, report.overall.median_seconds, report.overall.share_5_min) == (0, None, None)
    assert report.by_owner == [] and report.by_source == []
    assert [(r.label, r.leads, r.median_seconds) for r in report.weekly] == [
        ("2031-01-01", 0, None), ("2031-01-08", 0, None)]


def test_the_scope_narrows_every_figure(fortnight):
    ann, _ = fortnight
    mine = live_lead_ids().where(db.text("owner_id = :owner")).params(owner=ann.id)
    report = speed_to_lead(mine, START, END, UTC_ZONE)
    assert (report.overall.leads, report.overall.median_seconds) == (3, 300)
    assert [r.label for r in report.by_owner] == ["Ann"]


def test_weeks_start_at_local_midnight_across_a_clock_change(app):
    """New York moves its clocks on Sunday 10 March 2030: the second week starts at local
    midnight on Monday 11 March, 04:00 UTC (the first started at 05:00 UTC)."""
    zone = ZoneInfo("America/New_York")
    start, end = datetime(2030, 3, 4, 5, tzinfo=UTC), datetime(2030, 3, 18, 4, tzinfo=UTC)
    assert week_starts(start, end, zone) == [start, datetime(2030, 3, 11, 4, tzinfo=UTC)]
    lead(datetime(2030, 3, 11, 3, 30, tzinfo=UTC), first_response_at=datetime(2030, 3, 11, 3, 31, tzinfo=UTC))
    lead(datetime(2030, 3, 11, 4, 30, tzinfo=UTC), first_response_at=datetime(2030, 3, 11, 5, 30, tzinfo=UTC))
    rows = weekly(live_lead_ids(), start, end, zone)
    assert [(r.label, r.leads, r.median_seconds) for r in rows] == [("2030-03-04", 1, 60), ("2030-03-11", 1, 3600)]


def test_the_first_call_logged_sets_the_response_time_the_report_reads(app, make_user):
    rep = make_user("rep", name="Ann")
    created = at(4)
    arrived = lead(created, owner_id=rep.id)
    activity_services.log_activity(rep, arrived, {"kind": "note", "body": "Looked them up"},
                                   now=created + timedelta(minutes=1))
    activity_services.log_activity(rep, arrived, {"kind": "call", "outcome": "connected"},
                                   now=created + timedelta(minutes=4))
    activity_services.log_activity(rep, arrived, {"kind": "email", "subject": "Hello"},
                                   now=created + timedelta(minutes=9))
    row = speed_to_lead(live_lead_ids(), START, END, UTC_ZONE).overall
    assert (row.answered, row.median_seconds, row.within_5_min) == (1, 240, 1)


def test_a_long_period_puts_each_lead_in_its_own_week(app):
    start = datetime(2030, 1, 7, tzinfo=UTC)
    end = start + timedelta(weeks=30)
    for week, minutes in ((0, 1), (13, 2), (13, 4), (29, 8)):
        created = start + timedelta(weeks=week, days=6, hours=23)  # the last hour of the week
        lead(created, first_response_at=created + timedelta(minutes=minutes))
    lead(start - timedelta(seconds=1), first_response_at=start)  # the second before the period
    rows = weekly(live_lead_ids(), start, end, UTC_ZONE)
    assert len(rows) == 30 and rows[0].key == date(2030, 1, 7) and rows[29].key == date(2030, 7, 29)
    assert {i: (r.leads, r.median_seconds) for i, r in enumerate(rows) if r.leads} == {
        0: (1, 60), 13: (2, 120), 29: (1, 480)}
