"""A report's months are the reader's, clipped to the period."""

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from leadflow.reports.months import period_months

UTC = timezone.utc


def test_a_period_from_mid_september_to_early_november_has_three_months_clipped_at_both_ends():
    months = period_months(date(2026, 9, 15), date(2026, 11, 10), ZoneInfo("Europe/Berlin"))
    assert [(m.key, m.label, m.first_day) for m in months] == [
        ("2026-09", "Sep 2026", date(2026, 9, 1)), ("2026-10", "Oct 2026", date(2026, 10, 1)),
        ("2026-11", "Nov 2026", date(2026, 11, 1))]
    # Berlin is UTC+2 until 25 Oct and UTC+1 after.
    assert months[0].start_at == datetime(2026, 9, 14, 22, tzinfo=UTC)
    assert months[0].end_at == months[1].start_at == datetime(2026, 9, 30, 22, tzinfo=UTC)
    assert months[1].end_at == months[2].start_at == datetime(2026, 10, 31, 23, tzinfo=UTC)
    assert months[2].end_at == datetime(2026, 11, 10, 23, tzinfo=UTC)


def test_an_end_before_the_start_has_no_months():
    assert period_months(date(2026, 9, 15), date(2026, 9, 14), ZoneInfo("UTC")) == []
