"""The sources report against a hand-checked set of leads created in November 2026 (base
currency USD; 1 EUR = 1.1 USD; no rate for GBP).

    lead  source     now                       value     won after   counted
    S1    referral   Won                       1000 USD  4 days      yes
    S2    referral   Won                       500 EUR   10 days     yes
    S3    referral   Contacted                 999 USD   -           yes
    S4    referral   customer, not in Won      -         (no move)   yes
    S5    website    Won                       200 GBP   2 days      yes
    S6    website    Lost                      -         -           yes
    S10   website    back to Negotiation       300 USD   (was Won)   yes, not won
    S7    (none)     New                       -         -           yes
    S8    referral   Won, in the trash                               no
    S9    referral   Won, created in October                         no

Costs: referral Nov 300 USD (and Oct 999 USD, outside), website Nov 100 EUR, event Nov 50 USD,
partner Nov 10 GBP (no rate).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

import pytest

from leadflow.extensions import db
from leadflow.governance.money import current_rates, set_rates
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Stage, StageChange
from leadflow.pipeline.services import ensure_default_pipeline
from leadflow.reports.models import SourceCost
from leadflow.reports.sources import months_of, sources_report

NOV = datetime(2026, 11, 1, tzinfo=timezone.utc)
DEC = datetime(2026, 12, 1, tzinfo=timezone.utc)
LIVE = db.select(Lead.id).where(Lead.deleted_at.is_(None))


def _lead(make_lead, source, moves: list[tuple[str, float]], *, value=None, currency="USD", lifecycle=None,
          created=NOV + timedelta(days=2), deleted=False, owner_id=None) -> int:
    """A lead created at ``created`` whose stage history is ``moves`` (stage, days after creation)."""
    stages = {s.name: s for s in db.session.scalars(db.select(Stage))}
    lead = make_lead(owner_id=owner_id)
    lead_id = lead.id
    db.session.execute(db.delete(StageChange).where(StageChange.lead_id == lead_id))
    for name, days in moves:
        db.session.add(StageChange(lead_id=lead_id, to_stage_id=stages[name].id, at=created + timedelta(days=days)))
    current = stages[moves[-1][0]]
    db.session.execute(Lead.__table__.update().where(Lead.id == lead_id).values(
        source=source, created_at=created, stage_id=current.id, pipeline_id=current.pipeline_id,
        value_cents=value, currency=currency,
        lifecycle=lifecycle or ("customer" if current.kind == "won" else "lead"),
        deleted_at=created if deleted else None))
    db.session.flush()
    db.session.expire_all()
    return lead_id


@pytest.fixture
def world(app, make_user, make_lead):
    ensure_default_pipeline()
    set_rates(make_user("admin"), {"EUR": "1.1"})
    _lead(make_lead, "referral", [("New", 0), ("Won", 4)], value=100_000)
    _lead(make_lead, "referral", [("New", 0), ("Contacted", 1), ("Won", 10)], value=50_000, currency="EUR")
    _lead(make_lead, "referral", [("New", 0), ("Contacted", 1)], value=99_900)
    _lead(make_lead, "referral", [("New", 0), ("Contacted", 1)], lifecycle="customer")
    _lead(make_lead, "website", [("New", 0), ("Won", 2)], value=20_000, currency="GBP")
    _lead(make_lead, "website", [("New", 0), ("Lost", 3)])
    _lead(make_lead, "website", [("New", 0), ("Won", 1), ("Negotiation", 5)], value=30_000)
    _lead(make_lead, None, [("New", 0)])
    _lead(make_lead, "referral", [("New", 0), ("Won", 1)], value=1_000_000, deleted=True)
    _lead(make_lead, "referral", [("New", 0), ("Won", 1)], value=1_000_000, created=NOV - timedelta(hours=1))
    db.session.add_all([
        SourceCost(source="referral", month=date(2026, 11, 1), amount_cents=30_000, currency="USD"),
        SourceCost(source="referral", month=date(2026, 10, 1), amount_cents=99_900, currency="USD"),
        SourceCost(source="website", month=date(2026, 11, 1), amount_cents=10_000, currency="EUR"),
        SourceCost(source="event", month=date(2026, 11, 1), amount_cents=5_000, currency="USD"),
        SourceCost(source="partner", month=date(2026, 11, 1), amount_cents=1_000, currency="GBP"),
    ])
    db.session.flush()


def _report(**options):
    return sources_report(LIVE, NOV, DEC, [date(2026, 11, 1)], current_rates(), **options)


def test_each_source_has_its_volume_conversion_value_and_median_days(world):
    report = _report()
    assert [row.source for row in report.rows] == ["referral", "website", "(no source)", "event", "partner"]
    referral, website, none, event, partner = report.rows
    assert (referral.leads, referral.won, referral.conversion, referral.median_days) == (4, 3, 75.0, 7.0)
    assert referral.won_value.rounded_cents == 155_000 and referral.won_value.unconverted == ()
    assert (website.leads, website.won, website.conversion, website.median_days) == (3, 1, 33.3, 2.0)
    assert website.won_value.rounded_cents == 0
    assert [(u.currency, u.rounded_cents) for u in website.won_value.unconverted] == [("GBP", 20_000)]
    assert (none.leads, none.won, none.conversion, none.median_days, none.cost) == (1, 0, 0.0, None, None)
    assert (event.leads, event.won, event.conversion) == (0, 0, None)
    assert report.unconverted == ["GBP"]


def test_costs_of_the_months_in_the_period_per_lead_and_per_customer(world):
    referral, website, none, event, partner = _report().rows
    assert (referral.cost.rounded_cents, referral.cost_per_lead, referral.cost_per_customer) == (30_000, 7_500, 10_000)
    assert (website.cost.rounded_cents, website.cost_per_lead, website.cost_per_customer) == (11_000, 3_667, 11_000)
    assert (event.cost.rounded_cents, event.cost_per_lead, event.cost_per_customer) == (5_000, None, None)
    assert partner.cost.unconverted and partner.cost_per_lead is None, "a cost without a rate is not divided"
    two_months = sources_report(LIVE, NOV, DEC, [date(2026, 10, 1), date(2026, 11, 1)], current_rates())
    assert two_months.rows[0].cost.rounded_cents == 129_900


def test_an_empty_period_has_no_rows_and_costs_can_be_left_out(world):
    assert sources_report(LIVE, DEC, DEC + timedelta(days=31), [date(2026, 12, 1)], current_rates()).rows == []
    assert [row.source for row in _report(with_costs=False).rows] == ["referral", "website", "(no source)"]


def test_months_of_a_period():
    assert months_of(date(2026, 11, 15), date(2027, 1, 2)) == [date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1)]
    assert months_of(date(2026, 11, 15), date(2026, 11, 16)) == [date(2026, 11, 1)]


def test_page_and_csv(world, client, login_as):
    login_as("manager")
    html = client.get("/reports/sources?start=2026-11-01&end=2026-11-30").get_data(as_text=True)
    assert "Leads created by source" in html and "Won value by source, in USD" in html
    assert '<td class="num">$1,550</td>' in html
    assert "No exchange rate to USD for GBP" in html
    response = client.get("/reports/sources.csv?start=2026-11-01&end=2026-11-30")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).removeprefix("\ufeff"))))
    assert rows[0] == ["Source", "Leads", "Won", "Conversion to won %", "Won value (USD)", "Won value without a rate",
                       "Median days to won", "Cost (USD)", "Cost per lead (USD)", "Cost per customer (USD)"]
    assert rows[1] == ["referral", "4", "3", "75.0", "1550.00", "", "7.0", "300.00", "75.00", "100.00"]
    assert rows[2] == ["website", "3", "1", "33.3", "0.00", "200.00 GBP", "2.0", "110.00", "36.67", "110.00"]


def test_with_owner_me_a_rep_sees_their_own_leads_and_no_costs(app, client, login_as, make_lead):
    ensure_default_pipeline()
    rep, _ = login_as("rep")
    _lead(make_lead, "event", [("New", 0)], owner_id=rep.id)
    _lead(make_lead, "event", [("New", 0)])
    db.session.add(SourceCost(source="event", month=date(2026, 11, 1), amount_cents=5_000, currency="USD"))
    db.session.commit()
    mine = client.get("/reports/sources.csv?start=2026-11-01&end=2026-11-30&owner=me").get_data(as_text=True)
    everyone = client.get("/reports/sources.csv?start=2026-11-01&end=2026-11-30").get_data(as_text=True)
    assert list(csv.reader(io.StringIO(mine.removeprefix("\ufeff"))))[1] == ["event", "1", "0", "0.0", "0.00", "", ""]
    assert list(csv.reader(io.StringIO(everyone.removeprefix("\ufeff"))))[1][:2] == ["event", "2"]
    assert "Costs are left out with an owner or team filter" in client.get(
        "/reports/sources?start=2026-11-01&end=2026-11-30&owner=me").get_data(as_text=True)
