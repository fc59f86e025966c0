"""Pipeline velocity against a hand-checked book (UTC reader; base USD, 1 EUR = 1.10 USD, GBP
without a rate; period September–October 2026).

September: open at its end O1, O2, W3 (New since 20 Sep), W4 (reopened, in Negotiation) = 4;
  won W1 (USD 1,000, 41 days) and W2 (EUR 500 = USD 550, 20 days), lost L1: win rate 2/3,
  average won USD 775, cycle 30.5 days → 4 × 2/3 × 77,500 ¢ ÷ 30.5 = 6,775.96 ¢ a day.
October: open at its end O1, O2 = 2; won W3 (USD 300, 20 days), W4 (USD 200, 50 days from its
  creation to its last win), W5 (GBP 100, no rate, 10 days), lost L2, L3: win rate 3/5,
  average won USD 250 (W5 left out), cycle 80/3 days → 2 × 3/5 × 25,000 ¢ ÷ 26.67 = 1,125 ¢.
Period: open 2, won 5 of 8, average USD 512.50, cycle 28.2 days → 2,271.72 ¢ a day.
Deleted leads (one won in October, one open) count nowhere.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from leadflow.extensions import db
from leadflow.governance.models import ExchangeRate
from leadflow.governance.money import Unconverted, current_rates
from leadflow.leads import store
from leadflow.reports.months import period_months
from leadflow.reports.velocity import open_deals_at, velocity

from tests.factories import TEST_SETUP
from tests.reports.flow_data import at, live_leads, past_lead, stages

UTC = ZoneInfo("UTC")
MONTHS = period_months(date(2026, 9, 1), date(2026, 10, 31), UTC)


@pytest.fixture
def rates(app):
    db.session.add(ExchangeRate(base_currency="USD", currency="EUR", rate=Decimal("1.10")))
    db.session.flush()
    return current_rates("USD")


@pytest.fixture
def book(app):
    ids = {
        "O1": past_lead("O1", at(8, 1), "New"),
        "O2": past_lead("O2", at(9, 15), "New", [(at(10, 10), "Qualified")]),
        "W1": past_lead("W1", at(8, 1), "New", [(at(9, 11), "Won")], value=100000),
        "W2": past_lead("W2", at(9, 1), "New", [(at(9, 21), "Won")], value=50000, currency="EUR"),
        "L1": past_lead("L1", at(8, 15), "New", [(at(9, 5), "Lost")], value=90000),
        "W3": past_lead("W3", at(9, 20), "New", [(at(10, 10), "Won")], value=30000),
        "W4": past_lead("W4", at(9, 1), "Negotiation", [(at(9, 6), "Won"), (at(9, 10), "Negotiation"), (at(10, 21), "Won")],
                        value=20000),
        "L2": past_lead("L2", at(10, 1), "New", [(at(10, 3), "Lost")]),
        "L3": past_lead("L3", at(10, 2), "Contacted", [(at(10, 4), "Lost")]),
        "W5": past_lead("W5", at(10, 1), "New", [(at(10, 11), "Won")], value=10000, currency="GBP"),
        "gone won": past_lead("Gone won", at(10, 1), "New", [(at(10, 2), "Won")], value=900000),
        "gone open": past_lead("Gone open", at(8, 1), "New"),
    }
    store.trash_leads([ids["gone won"], ids["gone open"]], TEST_SETUP)
    return ids


def _figures(v):
    return (v.open_deals, v.won, v.lost, v.win_rate, v.average_won_cents, v.cycle_days,
            None if v.cents_per_day is None else v.cents_per_day.quantize(Decimal("0.01")))


def test_each_month_has_its_four_inputs_and_its_velocity(book, rates):
    period, trend = velocity(live_leads(), MONTHS, rates)
    assert [v.label for v in trend] == ["Sep 2026", "Oct 2026"]
    assert _figures(trend[0]) == (4, 2, 1, Decimal(2) / 3, Decimal(77500), Decimal("30.5"), Decimal("6775.96"))
    assert _figures(trend[1])[:5] == (2, 3, 2, Decimal("0.6"), Decimal(25000))
    assert trend[1].cycle_days == Decimal("26.666667")
    assert trend[1].cents_per_day.quantize(Decimal("0.01")) == Decimal("1125.00")
    assert trend[1].won_value.unconverted == (Unconverted("GBP", Decimal(10000), 1),)


def test_the_period_adds_up_its_months(book, rates):
    period, _ = velocity(live_leads(), MONTHS, rates)
    assert period.label == "Sep 2026 – Oct 2026"
    assert _figures(period) == (2, 5, 3, Decimal("0.625"), Decimal(51250), Decimal("28.2"), Decimal("2271.72"))


def test_open_deals_are_read_from_stage_history_at_each_moment(book):
    moments = [at(8, 31, 0), at(9, 7, 0), at(9, 12, 0)]
    # 31 Aug: O1, W1, L1 (W2 and W4 not created yet). 7 Sep: O1, W1, W2 (L1 lost on 5 Sep, W4 won
    # on 6 Sep). 12 Sep: O1, W2, W4 (W1 won on 11 Sep, W4 reopened on 10 Sep).
    assert open_deals_at(live_leads(), moments) == [3, 3, 3]
    assert open_deals_at(live_leads(), [at(9, 16, 0)]) == [4]  # O2 arrived on 15 Sep


def test_open_deals_answer_each_moment_in_the_order_asked_repeats_included(book):
    moments = [at(9, 16, 0), at(8, 31, 0), at(9, 16, 0), at(9, 7, 0)]
    assert open_deals_at(live_leads(), moments) == [4, 3, 4, 3]


def test_an_empty_period_has_no_velocity(book, rates):
    period, trend = velocity(live_leads(), period_months(date(2025, 1, 1), date(2025, 1, 31), UTC), rates)
    assert _figures(period) == (0, 0, 0, None, None, None, None)
    assert [v.label for v in trend] == ["Jan 2025"]


def test_no_wins_means_no_velocity_but_the_other_inputs_show(app, rates):
    past_lead("Open", at(9, 1), "New")
    past_lead("Lost", at(9, 1), "New", [(at(9, 3), "Lost")])
    period, _ = velocity(live_leads(), MONTHS, rates)
    assert _figures(period) == (1, 0, 1, Decimal(0), None, None, None)


def test_another_pipeline_s_stages_are_not_this_pipeline_s_deals(book, rates):
    other = stages()["New"].pipeline_id + 1000
    assert velocity(live_leads(), MONTHS, rates, pipeline_id=other)[0].open_deals == 0
    assert velocity(live_leads(), MONTHS, rates, pipeline_id=stages()["New"].pipeline_id)[0].won == 5


def test_leads_created_without_a_change_entering_their_stage_count_from_their_creation(app):
    past_lead("Quiet", at(9, 14), "New", history=False)
    past_lead("Quiet mover", at(9, 14), "Contacted", [(at(9, 20), "Lost")], history=False)
    past_lead("Recorded", at(9, 14), "New", [(at(9, 18), "Won")])
    assert open_deals_at(live_leads(), [at(9, 12), at(9, 16), at(9, 19), at(9, 21)]) == [0, 3, 2, 1]
