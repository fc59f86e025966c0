"""Each home-page figure against the hand-checked workspace of ``conftest.py``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from leadflow.dashboard import month, queries, today
from leadflow.dashboard.scope import scope_for

from tests.dashboard.conftest import NOW


def _ids(world, keys):
    return [world.tasks[k] for k in keys]


def test_overdue_and_due_today_are_split_at_now_and_end_at_the_viewers_midnight(world):
    overdue, later = today.due_tasks(scope_for(world.ann, "me"), world.ann, NOW)
    # t4 is due 23:59 in New York (04:59 UTC the next day); t5 at midnight there is tomorrow's.
    assert [t.id for t in overdue.rows] == _ids(world, ["t1", "t2"]) and overdue.count == 2
    assert [t.id for t in later.rows] == _ids(world, ["t3", "t4"]) and later.count == 2


def test_tasks_of_others_done_tasks_and_tasks_on_trashed_leads_are_not_mine(world):
    overdue, later = today.due_tasks(scope_for(world.ann, "me"), world.ann, NOW)
    shown = {t.id for t in overdue.rows + later.rows}
    assert not shown & set(_ids(world, ["t6", "t7", "t8", "t9"]))


def test_team_view_shows_the_teams_tasks_on_the_managers_own_clock(world):
    # Meg reads UTC: her day ends at 16 Dec 00:00 UTC, so t4 (04:59 UTC) is tomorrow for her.
    overdue, later = today.due_tasks(scope_for(world.meg, "team"), world.meg, NOW)
    assert [t.id for t in overdue.rows] == _ids(world, ["t8", "t1", "t2"])
    assert [t.id for t in later.rows] == _ids(world, ["t3"])
    overdue, later = today.due_tasks(scope_for(world.admin, "all"), world.admin, NOW)
    assert overdue.count == 3 and [t.id for t in later.rows] == _ids(world, ["t3", "t9"])


def test_a_rep_asking_for_the_team_gets_their_own_with_the_reason(world):
    scope = scope_for(world.ann, "team")
    assert scope.view == "me" and "Only managers and admins" in scope.message
    assert scope_for(world.cid, "all").view == "me"
    assert scope_for(world.admin, "team").message == "You are in no team yet: showing your own work."
    assert scope_for(world.meg, "team").view == "team" and scope_for(world.meg, "all").view == "all"


def test_hot_leads_with_no_open_task(world):
    hot = today.hot_without_next_step(scope_for(world.ann, "me"))
    # hot1 (nothing planned) and hot3 (its only task is done); not hot2 (a task), not the
    # trashed one, not a customer, not Bob's.
    assert sorted(l.id for l in hot.rows) == sorted([world.leads["hot1"], world.leads["hot3"]]) and hot.count == 2
    team = today.hot_without_next_step(scope_for(world.meg, "team"))
    assert sorted(l.id for l in team.rows) == sorted(world.leads[k] for k in ("hot1", "hot3", "hot_bob"))


def test_leads_waiting_for_a_first_response_with_minutes_since_arrival(world):
    waiting = today.awaiting_first_response(scope_for(world.ann, "me"), NOW)
    assert [l.id for l in waiting.rows] == [world.leads["w2"], world.leads["w1"]]
    assert [today.minutes_since(l.created_at, NOW) for l in waiting.rows] == [4320, 90]


def test_new_leads_of_the_last_seven_days(world):
    new = today.new_leads(scope_for(world.ann, "me"), NOW)
    assert [l.id for l in new.rows] == [world.leads[k] for k in ("w5", "w1", "w3", "w2")]


def test_a_list_longer_than_its_limit_counts_the_rest(world):
    anns = today.db.select(today.Lead).where(today.Lead.owner_id == world.ann.id)
    listing = today.listed(anns, anns.with_only_columns(today.Lead.id), limit=3)
    assert len(listing.rows) == 3 and listing.count == 28 and listing.more == 25 and not listing.capped
    capped = today.capped_count(anns.with_only_columns(today.Lead.id), cap=20)
    assert capped == (20, True)


def test_capped_counts_count_every_query_in_one_statement(world, count_queries):
    owned_by = {who: today.db.select(today.Lead.id).where(today.Lead.owner_id == getattr(world, who).id)
                for who in ("ann", "bob")}
    bobs = len(today.db.session.scalars(owned_by["bob"]).all())
    with count_queries() as statements:
        counts = today.capped_counts(owned_by, cap=20)
    assert counts == {"ann": (20, True), "bob": (bobs, False)} and len(statements) == 1
    with count_queries() as statements:
        assert today.capped_counts({}) == {}
    assert not statements


def test_month_boundaries_are_the_viewers():
    starts = month.month_starts(__import__("zoneinfo").ZoneInfo("America/New_York"), NOW)
    assert starts[-2] == datetime(2026, 12, 1, 5, tzinfo=UTC)
    assert starts[-3] == datetime(2026, 11, 1, 4, tzinfo=UTC)
    assert starts[0] == datetime(2026, 7, 1, 4, tzinfo=UTC) and len(starts) == 7


def test_won_value_in_base_currency_and_count_vs_last_month(world):
    figures = queries.month_context(scope_for(world.ann, "me"), world.ann, NOW)
    value, count = figures["won_value"], figures["won_count"]
    # December: g1 $1,000 + g2 €500 at 1.1 = $550; g7's £100 has no rate and stays apart.
    assert value.current.cents == Decimal(155_000)
    assert [(u.currency, u.cents) for u in value.current.unconverted] == [("GBP", Decimal(10_000))]
    assert count.current == 3
    # November: g4 $200 and g3, won 1 Dec 04:30 UTC = 30 Nov 23:30 in New York.
    assert value.previous.cents == Decimal(50_000) and count.previous == 2
    assert count.trend == [0, 0, 0, 0, 2, 3]


def test_team_won_reads_the_managers_months(world):
    figures = queries.month_context(scope_for(world.meg, "team"), world.meg, NOW)
    value, count = figures["won_value"], figures["won_count"]
    # In UTC g3 is December's: g1 1,000 + g2 550 + g3 300 + g6 700 (Bob's); g7 apart.
    assert value.current.cents == Decimal(255_000) and count.current == 5


def test_median_time_to_first_response_per_month(world):
    figure = queries.month_context(scope_for(world.ann, "me"), world.ann, NOW)["response"]
    # December: 600, 1200, 1800 (w3), 3600 → (1200 + 1800) / 2; the trashed r7 is left out.
    assert round(figure.current) == 1500
    assert round(figure.previous) == 300  # November: 60, 300, 900
    assert figure.trend[:4] == [None, None, None, None]


def test_weighted_open_pipeline_now_and_at_each_months_end(world):
    figure = queries.month_context(scope_for(world.ann, "me"), world.ann, NOW)["pipeline"]
    # Now: p1 $1,000 × 60 % + p2 €200 → $220 × 10 %; p3 has no value.
    assert figure.current.cents == Decimal(62_200)
    # End of November: p1 and g1 in New (10 % of $1,000 each) and p2: 100 + 100 + 22.
    assert figure.previous.cents == Decimal(22_200)
    # End of September: g1 entered New on 1 Oct 00:00 UTC, still 30 Sep in New York.
    assert figure.trend == [0.0, 0.0, 100.0, 200.0, 222.0, 622.0]


def test_the_pipeline_now_weighs_with_a_stages_changed_probability(world):
    scope = scope_for(world.ann, "me")
    assert queries.month_context(scope, world.ann, NOW)["pipeline"].current.cents == Decimal(62_200)
    world.stages["Proposal sent"].probability = 90  # the open stages' weights are kept: a change is read
    today.db.session.flush()
    # p1 $1,000 × 90 % + p2 $220 × 10 %
    assert queries.month_context(scope, world.ann, NOW)["pipeline"].current.cents == Decimal(92_200)


def test_an_empty_month_is_zero_not_an_error(world):
    figures = queries.month_context(scope_for(world.cid, "me"), world.cid, NOW)
    assert figures["won_value"].current.cents == 0 and figures["won_count"].trend == [0] * 6
    assert figures["response"].current is None
