"""Forecast against a hand-checked book (base USD, 1 EUR = 1.10 USD, GBP has no rate; the
reader is in Berlin and today is Sun 15 Nov 2026).

Open deals (value, stage probability, close date):
  Oct   USD 250 Contacted 20 % 3 Oct (overdue)            → 250.00 / 50.00
  Nov   USD 1,000 Qualified 40 % 20 Nov; USD 500 Negotiation 80 % 10 Nov (overdue)
                                                          → 1,500.00 / 800.00
  Dec   EUR 200 Proposal sent 60 %; GBP 300 New 10 %       → 220.00 / 132.00, GBP 300 / 30 apart
  none  USD 400 Qualified 40 %; one deal with no value     → 400.00 / 160.00
A deleted deal, a won and a lost one are not open.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import IntegrityError

from leadflow.errors import NotFound, PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.governance.models import ExchangeRate
from leadflow.governance.money import Unconverted, current_rates
from leadflow.leads import store
from leadflow.reports.forecast import forecast, open_by_close_month, won_by_month
from leadflow.reports.models import MonthlyTarget
from leadflow.reports.months import period_months
from leadflow.reports.targets import parse_month, remove_target, set_target, target_rows

from tests.factories import TEST_SETUP
from tests.reports.flow_data import at, live_leads, past_lead, stages

TODAY = date(2026, 11, 15)
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def rates(app):
    db.session.add(ExchangeRate(base_currency="USD", currency="EUR", rate=Decimal("1.10")))
    db.session.flush()
    return current_rates("USD")


@pytest.fixture
def open_book(app):
    past_lead("Late", at(9, 1), "Contacted", value=25000, close=date(2026, 10, 3))
    past_lead("Big", at(9, 1), "Qualified", value=100000, close=date(2026, 11, 20))
    past_lead("Slipping", at(9, 1), "Negotiation", value=50000, close=date(2026, 11, 10))
    past_lead("Euro", at(9, 1), "Proposal sent", value=20000, currency="EUR", close=date(2026, 12, 5))
    past_lead("Pound", at(9, 1), "New", value=30000, currency="GBP", close=date(2026, 12, 20))
    past_lead("Undated", at(9, 1), "Qualified", value=40000)
    past_lead("Unvalued", at(9, 1), "Contacted")
    gone = past_lead("Gone", at(9, 1), "Negotiation", value=999900, close=date(2026, 11, 12))
    store.trash_leads([gone], TEST_SETUP)
    past_lead("Closed won", at(9, 1), "New", [(at(10, 1), "Won")], value=70000, close=date(2026, 11, 1))
    past_lead("Closed lost", at(9, 1), "New", [(at(10, 1), "Lost")], value=70000, close=date(2026, 11, 1))


def _open(rows):
    return {row.label: (row.deals, row.overdue, row.past, row.unweighted.cents, row.weighted.cents) for row in rows}


def test_open_value_by_close_month_weighted_and_unweighted_in_the_base_currency(open_book, rates):
    rows, total, weighted = open_by_close_month(live_leads(), TODAY, rates)
    assert [row.label for row in rows] == ["Oct 2026", "Nov 2026", "Dec 2026", "No close date"]
    assert _open(rows) == {
        "Oct 2026": (1, 1, True, 25000, 5000),
        "Nov 2026": (2, 1, False, 150000, 80000),
        "Dec 2026": (2, 0, False, 22000, 13200),  # the euros converted; the pounds kept apart
        "No close date": (2, 0, False, 40000, 16000),
    }
    december = rows[2]
    assert december.unweighted.unconverted == (Unconverted("GBP", Decimal(30000), 1),)
    assert december.weighted.unconverted == (Unconverted("GBP", Decimal(3000), 1),)
    assert december.unweighted.converted == ("EUR",)
    assert (total.cents, weighted.cents) == (237000, 114200)
    assert total.unconverted == (Unconverted("GBP", Decimal(30000), 1),)


def test_no_open_deals_means_no_rows_and_zero_totals(app, rates):
    rows, total, weighted = open_by_close_month(live_leads(), TODAY, rates)
    assert (rows, total.cents, weighted.cents) == ([], 0, 0)


@pytest.fixture
def won_book(app):
    past_lead("September", at(9, 1), "New", [(at(9, 10), "Won")], value=100000)
    past_lead("October euros", at(9, 1), "New", [(at(10, 5), "Won")], value=50000, currency="EUR")
    past_lead("October pounds", at(9, 1), "New", [(at(10, 20), "Won")], value=10000, currency="GBP")
    # 23:30 UTC on 31 Oct is already 1 Nov in Berlin.
    past_lead("Midnight", at(9, 1), "New", [(at(10, 31, 23, minute=30), "Won")], value=30000)
    # Won, reopened, won again: counted once, in the month it was last won.
    past_lead("Reopened", at(9, 1), "Negotiation", [(at(9, 20), "Won"), (at(9, 25), "Negotiation"), (at(11, 2), "Won")],
              value=20000)
    past_lead("No value", at(9, 1), "New", [(at(11, 3), "Won")])
    past_lead("August", at(7, 1), "New", [(at(8, 20), "Won")], value=500000)
    gone = past_lead("Gone", at(9, 1), "New", [(at(10, 7), "Won")], value=800000)
    store.trash_leads([gone], TEST_SETUP)
    pipeline_id = stages()["Won"].pipeline_id
    db.session.add_all([
        MonthlyTarget(month=date(2026, 10, 1), amount_cents=60000, currency="USD"),
        MonthlyTarget(month=date(2026, 9, 1), amount_cents=100000, currency="EUR"),  # set while the base was EUR
        MonthlyTarget(month=date(2026, 11, 1), pipeline_id=pipeline_id, amount_cents=100000, currency="USD"),
    ])
    db.session.flush()
    return pipeline_id


def _won(rows):
    return {row.label: (row.deals, row.won.cents, None if row.target is None else row.target.cents, row.percent_of_target)
            for row in rows}


def test_won_value_per_month_against_the_workspace_target(won_book, rates):
    months = period_months(date(2026, 9, 1), TODAY, BERLIN)
    rows, total = won_by_month(live_leads(), months, rates)
    assert _won(rows) == {
        "Sep 2026": (1, 100000, 110000, 91),  # the EUR 1,000 target is USD 1,100
        "Oct 2026": (2, 55000, 60000, 92),
        "Nov 2026": (3, 50000, None, None),  # Midnight, Reopened, No value; the November target is one pipeline's
    }
    assert rows[1].won.unconverted == (Unconverted("GBP", Decimal(10000), 1),)
    assert total.cents == 205000


def test_a_pipeline_has_its_own_targets(won_book, rates):
    months = period_months(date(2026, 9, 1), TODAY, BERLIN)
    rows, _ = won_by_month(live_leads(), months, rates, pipeline_id=won_book)
    assert _won(rows)["Nov 2026"] == (3, 50000, 100000, 50)
    assert _won(rows)["Oct 2026"][2] is None


def test_an_empty_period_shows_each_month_with_nothing_won(won_book, rates):
    rows, total = won_by_month(live_leads(), period_months(date(2025, 1, 1), date(2025, 2, 28), BERLIN), rates)
    assert _won(rows) == {"Jan 2025": (0, 0, None, None), "Feb 2025": (0, 0, None, None)}
    assert total.cents == 0


def test_the_forecast_puts_both_together(open_book, won_book, rates):
    data = forecast(live_leads(), period_months(date(2026, 9, 1), TODAY, BERLIN), TODAY, rates)
    assert data.base == "USD" and data.has_targets
    assert (data.open_total.cents, data.weighted_total.cents, data.won_total.cents) == (237000, 114200, 205000 + 70000)


# --- the targets admins set ------------------------------------------------------------------

def test_an_admin_sets_a_target_once_a_month_and_changes_it(app, make_user):
    admin = make_user(role="admin")
    set_target(admin, parse_month("2026-11"), None, 500000)
    set_target(admin, date(2026, 11, 17), None, 450000)  # any day names its month
    pipeline_id = stages()["New"].pipeline_id
    set_target(admin, date(2026, 11, 1), pipeline_id, 200000)
    assert [(row.month, row.pipeline, row.amount_cents, row.currency) for row in target_rows()] == [
        (date(2026, 11, 1), "All pipelines", 450000, "USD"), (date(2026, 11, 1), "Sales", 200000, "USD")]


def test_only_admins_set_targets_and_bad_input_is_refused(app, make_user):
    with pytest.raises(PermissionDenied):
        set_target(make_user(role="manager"), date(2026, 11, 1), None, 100)
    admin = make_user(role="admin")
    with pytest.raises(ValidationFailed):
        set_target(admin, date(2026, 11, 1), None, -1)
    with pytest.raises(ValidationFailed):
        set_target(admin, date(2026, 11, 1), 2_000_000_000, 100)
    for typed in ("2026-13", "Nov", "", "1999-12"):
        with pytest.raises(ValueError):
            parse_month(typed)
    assert target_rows() == []


def test_removing_a_target(app, make_user):
    admin = make_user(role="admin")
    target = set_target(admin, date(2026, 11, 1), None, 100)
    assert remove_target(admin, target.id) == "Nov 2026 (all pipelines)"
    assert target_rows() == []
    with pytest.raises(NotFound):
        remove_target(admin, target.id)


def test_the_database_keeps_one_workspace_target_a_month(app):
    db.session.add(MonthlyTarget(month=date(2026, 11, 1), amount_cents=1, currency="USD"))
    db.session.flush()
    with db.session.begin_nested(), pytest.raises(IntegrityError):
        db.session.add(MonthlyTarget(month=date(2026, 11, 1), amount_cents=2, currency="USD"))
        db.session.flush()
