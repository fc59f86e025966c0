"""Kept figures of closed months against the hand-checked workspace of ``conftest.py``:
worked out once, read back after, one row per scope, zone and month."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from leadflow.dashboard import kept, month, queries
from leadflow.dashboard.models import MonthlyFigures
from leadflow.dashboard.scope import scope_for
from leadflow.extensions import db
from leadflow.leads.models import Lead

from tests.dashboard.conftest import NOW

NOVEMBER = date(2026, 11, 1)


def _rows(kind=None):
    query = db.select(MonthlyFigures).order_by(MonthlyFigures.scope_kind, MonthlyFigures.zone, MonthlyFigures.month)
    if kind:
        query = query.where(MonthlyFigures.scope_kind == kind)
    return list(db.session.scalars(query))


def _figures(world, who, view="me"):
    viewer = getattr(world, who)
    return queries.month_context(scope_for(viewer, view), viewer, NOW)


def _trash(world, key):
    db.session.execute(db.update(Lead).where(Lead.id == world.leads[key]).values(deleted_at=NOW))


def test_the_five_closed_months_are_kept_in_the_viewers_zone(world):
    _figures(world, "ann")
    rows = _rows()
    assert [(r.scope_kind, r.scope_id, r.zone) for r in rows] == [("person", world.ann.id, "America/New_York")] * 5
    assert [r.month for r in rows] == [date(2026, m, 1) for m in (7, 8, 9, 10, 11)]
    november = rows[-1]
    # g4 $200 and g3 (30 Nov 23:30 in New York); medians 60, 300, 900; p1, g1 in New and p2.
    assert november.won_count == 2 and november.won == {"USD": [2, 50_000]}
    assert november.response_seconds == 300
    assert november.pipeline == {"USD": [1, 2 * 100_000 * 10], "EUR": [1, 20_000 * 10]}


def test_a_closed_month_is_read_back_not_worked_out_again(world, monkeypatch):
    first = _figures(world, "ann")
    _trash(world, "g4")   # won in November: the kept November stays as it was
    _trash(world, "g1")   # won in December: this month is counted live
    monkeypatch.setattr(kept, "closed_months", lambda *a: pytest.fail("a kept month was worked out again"))
    again = _figures(world, "ann")
    assert again["won_count"].previous == first["won_count"].previous == 2
    assert again["won_value"].previous.cents == Decimal(50_000)
    assert again["won_count"].current == first["won_count"].current - 1 == 2
    assert len(_rows()) == 5


def test_a_month_kept_meanwhile_by_another_request_leaves_one_row_and_is_shown(world, monkeypatch):
    """Two requests work out November at once: the second one's INSERT meets the first one's
    row, keeps it, and shows it."""
    worked_out = kept.closed_months

    def racing(scope, starts, now):
        figures = worked_out(scope, starts, now)
        other = figures[-1].__class__(7, {"USD": (7, 700_000)}, 42, {})
        kept.keep("person", world.ann.id, "America/New_York", {NOVEMBER: other}, now)
        return figures

    monkeypatch.setattr(kept, "closed_months", racing)
    figures = _figures(world, "ann")
    assert len(_rows()) == 5
    assert figures["won_count"].previous == 7 and figures["response"].previous == 42
    assert figures["won_value"].previous.cents == Decimal(700_000)


def test_team_and_everyone_are_kept_apart_from_a_person(world):
    team = _figures(world, "meg", "team")
    everyone = _figures(world, "admin", "all")
    assert {(r.scope_kind, r.scope_id) for r in _rows("team")} == {("team", world.ann.team_id)}
    assert {(r.scope_kind, r.scope_id) for r in _rows("everyone")} == {("everyone", 0)}
    # In UTC November has g4 alone (g3 is December's there); Bob's g6 is December's too.
    assert team["won_count"].previous == everyone["won_count"].previous == 1
    assert team["won_count"].current == 5
    # Meg's own figures are her own: she owns no lead.
    assert _figures(world, "meg")["won_count"].trend == [0] * 6


def test_each_time_zone_keeps_its_own_months(world):
    assert _figures(world, "ann")["won_count"].previous == 2   # g3 is November's in New York
    world.ann.timezone = "UTC"
    db.session.flush()
    assert _figures(world, "ann")["won_count"].previous == 1   # and December's in UTC
    assert sorted({r.zone for r in _rows()}) == ["America/New_York", "UTC"] and len(_rows()) == 10


def test_leads_in_the_trash_are_left_out_of_a_kept_month(world):
    _trash(world, "g4")
    _trash(world, "r6")   # answered in 60 s in November
    figures = _figures(world, "ann")
    assert figures["won_count"].previous == 1 and figures["won_value"].previous.cents == Decimal(30_000)
    assert figures["response"].previous == 600   # (300 + 900) / 2


def test_a_kept_month_keeps_each_currency_and_converts_at_todays_rates(world):
    db.session.execute(db.update(Lead).where(Lead.id == world.leads["g4"]).values(currency="EUR"))
    db.session.execute(db.update(Lead).where(Lead.id == world.leads["g3"]).values(currency="GBP"))
    figures = _figures(world, "ann")
    assert _rows()[-1].won == {"EUR": [1, 20_000], "GBP": [1, 30_000]}
    november = figures["won_value"].previous
    assert november.cents == Decimal(22_000)   # €200 at 1.1; £300 has no rate and stays apart
    assert [(u.currency, u.cents) for u in november.unconverted] == [("GBP", Decimal(30_000))]


@pytest.mark.parametrize("who, view", [("ann", "me"), ("meg", "team"), ("admin", "all"), ("bob", "me")])
def test_the_live_month_and_the_kept_months_agree_with_working_all_out_at_once(world, who, view):
    """The current month counted live (one statement) is what the closed-month queries give
    for it, for a person, a team and everyone, and for someone with nothing this month."""
    from leadflow.pipeline.totals import recount_stage_totals

    recount_stage_totals(db.session)
    zone = __import__("zoneinfo").ZoneInfo("America/New_York")
    starts = month.month_starts(zone, NOW)
    scope = scope_for(getattr(world, who), view)
    live = month.current_month(scope, starts)
    counts, won = month.won_amounts(scope, starts)
    assert (live.won_count, live.won) == (counts[-1], won[-1])
    assert live.response_seconds == month.median_responses(scope, starts)[-1]
    assert live.pipeline == month.open_pipeline_now(scope)
    if who == "ann":
        assert live.pipeline == {"USD": (1, 100_000 * 60), "EUR": (1, 20_000 * 10)}
    assert [m.won_count for m in month.closed_months(scope, starts, datetime(2026, 12, 15, 20, tzinfo=UTC))] == \
        counts[:-1]


def test_everyones_pipeline_now_reads_the_boards_kept_totals(world):
    """Everyone's open pipeline comes from the per-stage-and-currency totals the lead store
    keeps (the workspace here is written around the store: recounted first); a stage whose
    currency rows do not add up to its totals is counted from its leads, as the board does."""
    from leadflow.pipeline.models import StageCurrencyTotals
    from leadflow.pipeline.totals import recount_stage_totals

    everyone = scope_for(world.admin, "all")
    recount_stage_totals(db.session)
    # p1 $1,000 × 60 %, p2 €200 × 10 %; Bob's and Cid's open leads have no value.
    assert month.open_pipeline_now(everyone) == {"USD": (1, 100_000 * 60), "EUR": (1, 20_000 * 10)}
    db.session.execute(db.delete(StageCurrencyTotals).where(
        StageCurrencyTotals.stage_id == world.stages["Proposal sent"].id))
    assert month.open_pipeline_now(everyone) == {"USD": (1, 100_000 * 60), "EUR": (1, 20_000 * 10)}
    _trash(world, "p1")
    recount_stage_totals(db.session)
    assert month.open_pipeline_now(everyone) == {"EUR": (1, 20_000 * 10)}
