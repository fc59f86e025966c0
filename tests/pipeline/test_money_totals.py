"""Board columns and the forecast add money only in the base currency: each lead's amount is
converted with the rate an admin set, exactly; an amount without a rate is shown beside the
total, never added; a lead's page shows its own currency and the converted value."""

from __future__ import annotations

import html as html_lib
import re
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import text

from leadflow.extensions import db
from leadflow.web.formatting import UTC_ZONE, format_day
from leadflow.pipeline.services import ensure_default_pipeline
from tests import factories

from tests.pipeline.test_board import column_head


@pytest.fixture
def stages(app):
    pipeline = ensure_default_pipeline()
    db.session.commit()
    return {s.name: s for s in pipeline.stages}


def dollars(cents: Decimal) -> str:
    """How the page writes an amount of US cents (rounded half up, no ".00")."""
    whole = cents.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    text_ = f"${whole / 100:,.2f}"
    return text_.removesuffix(".00")


def add_leads(stage, *leads) -> None:
    """Leads in ``stage``, each given as (first name, value, currency); committed."""
    for name, value, currency in leads:
        factories.make_lead(first_name=name, value=value, currency=currency, stage_id=stage.id)
    db.session.commit()


def set_rates(client, **rates) -> None:
    response = client.post("/settings/currency", data={f"rate-{c}": r for c, r in rates.items()})
    assert response.status_code == 302, response.text[:500]


def plain(page: str) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", "", page))


def test_a_mixed_currency_column_total_is_the_exact_converted_sum(login_as, make_lead, stages):
    qualified = stages["Qualified"]  # 40% win probability
    add_leads(qualified, ("Us", "1000", "USD"), ("Eu", "2500.50", "EUR"), ("Gb", "333.33", "GBP"),
              ("NoValue", "", "EUR"))
    _, client = login_as("admin")
    set_rates(client, EUR="1.0834", GBP="1.27113")
    head = plain(column_head(client.get("/pipeline").text, qualified.id))
    exact = Decimal(100000) + Decimal(250050) * Decimal("1.0834") + Decimal(33333) * Decimal("1.27113")
    assert f"{dollars(exact)} USD" in head  # $4,132.25 USD; the three currencies were not simply added
    assert f"{dollars(exact * Decimal('0.4'))} weighted" in head
    assert "4 leads" in head
    set_on = format_day(datetime.now(timezone.utc), UTC_ZONE)
    assert f"Includes 2 leads in EUR, GBP converted at rates set {set_on}" in head
    assert "without a rate" not in head


def test_a_moves_headers_add_its_currency_to_the_columns_other_currencies(login_as, stages, count_queries):
    """A move's two headers are the board's: the column it enters gains a currency row and
    keeps its others, the one it leaves keeps a currency without a rate. On PostgreSQL they are
    read by the statement that adds the move's totals (what it wrote, and the rows it did not
    touch as they stood), not by a statement of their own."""
    new, contacted = stages["New"], stages["Contacted"]
    add_leads(new, ("Mover", "2500.50", "EUR"), ("Stays", "100", "EUR"), ("Yen", "5000", "JPY"))
    add_leads(contacted, ("Us", "1000", "USD"), ("Gb", "333.33", "GBP"), ("NoValue", "", "GBP"))
    _, client = login_as("admin")
    set_rates(client, EUR="1.0834", GBP="1.27113")
    mover = db.session.scalar(text("SELECT id FROM leads WHERE first_name = 'Mover'"))
    with count_queries() as statements:
        response = client.post("/pipeline/move", headers={"HX-Request": "true"}, data={
            "lead_id": mover, "stage_id": contacted.id, "mode": "drag"})
    assert response.status_code == 200
    board = client.get("/pipeline").text
    for stage in (new, contacted):
        moved = re.sub(r'\s*hx-swap-oob="true"\s*', "", column_head(response.text, stage.id))
        assert moved == re.sub(r'\s+>', ">", column_head(board, stage.id), count=1)
    entered = plain(column_head(response.text, contacted.id))
    exact = Decimal(100000) + Decimal(33333) * Decimal("1.27113") + Decimal(250050) * Decimal("1.0834")
    assert "4 leads" in entered and f"{dollars(exact)} USD" in entered
    left = plain(column_head(response.text, new.id))
    assert "2 leads" in left and "JPY" in left
    if db.engine.dialect.name == "postgresql":
        assert not [s for s in statements if re.match(r"\s*SELECT stage_totals", s)], "the headers were read apart"


def test_an_amount_without_a_rate_is_shown_beside_the_total_and_never_added(login_as, make_lead, stages):
    new = stages["New"]
    add_leads(new, ("Us", "1000", "USD"), ("Ch", "1200", "CHF"), ("Ch2", "50", "CHF"))
    _, admin = login_as("admin")
    head = column_head(admin.get("/pipeline").text, new.id)
    assert "$1,000 USD" in plain(head) and "+ 1,250 CHF without a rate" in plain(head)
    assert "Includes" not in head  # nothing was converted
    assert '/settings/currency#rate-CHF' in head  # an admin is offered to set the rate
    admin.post("/logout")
    _, rep = login_as("rep")
    rep_head = column_head(rep.get("/pipeline").text, new.id)
    assert "+ 1,250 CHF without a rate" in plain(rep_head) and "/settings/currency" not in rep_head


def test_changing_a_rate_changes_the_totals(login_as, make_lead, stages):
    won = stages["Won"]
    make_lead(first_name="Eu", value="1000", currency="EUR", stage_id=won.id)
    db.session.commit()
    admin, client = login_as("admin", name="Ada Admin")
    set_rates(client, EUR="1.10")
    assert "$1,100 USD" in plain(column_head(client.get("/pipeline").text, won.id))
    set_rates(client, EUR="0.95")
    assert "$950 USD" in plain(column_head(client.get("/pipeline").text, won.id))
    page = client.get("/settings/currency").text
    assert 'value="0.95"' in page and "by Ada Admin" in page
    set_rates(client, EUR="")  # no rate any more: shown apart again
    assert "$0 USD" in plain(column_head(client.get("/pipeline").text, won.id))
    assert "+ €1,000 without a rate" in plain(column_head(client.get("/pipeline").text, won.id))


def test_the_forecast_agrees_with_the_board(login_as, make_lead, stages):
    negotiation = stages["Negotiation"]  # 80%
    close = date.today().replace(day=10).isoformat()
    for value, currency in (("1000", "USD"), ("777.77", "EUR"), ("10", "GBP"), ("300", "CHF")):
        make_lead(value=value, currency=currency, stage_id=negotiation.id, expected_close_date=close)
    db.session.commit()
    _, client = login_as("admin")
    set_rates(client, EUR="1.0834", GBP="1.27")
    board = plain(column_head(client.get("/pipeline").text, negotiation.id))
    weighted = re.search(r"(\$[\d,.]+) weighted", board).group(1)
    forecast = client.get(f"/pipeline/{negotiation.pipeline_id}/forecast", headers={"HX-Request": "true"}).text
    month = re.search(r'<span class="forecast-label">' + date.today().strftime("%b %Y") + r"</span>(.*?)</li>",
                      forecast, re.S).group(1)
    assert re.search(r'<span class="forecast-value">([^<]+)</span>', month).group(1) == weighted
    exact = (Decimal(100000) + Decimal(77777) * Decimal("1.0834") + Decimal(1000) * Decimal("1.27")) * Decimal("0.8")
    assert weighted == dollars(exact)
    assert "Forecast in USD" in forecast
    assert "+ 240 CHF without a rate" in plain(month)  # 80% of 300, kept apart like the board's
    assert "Includes 2 leads in EUR, GBP converted" in plain(month)


def test_a_filtered_board_converts_the_same_way(login_as, make_lead, stages):
    new = stages["New"]
    add_leads(new, ("Zed", "100", "EUR"), ("Zed", "100", "USD"), ("Other", "5000", "EUR"))
    _, client = login_as("admin")
    set_rates(client, EUR="2")
    assert "$10,300 USD" in plain(column_head(client.get("/pipeline").text, new.id))
    filtered = plain(column_head(client.get("/pipeline?q=Zed").text, new.id))
    assert "2 leads" in filtered and "$300 USD" in filtered and "Includes 1 lead in EUR converted at the rate" in filtered


def test_leads_added_in_bulk_to_the_stage_counts_only_are_still_in_the_total(login_as, make_lead, stages):
    """A bulk write that added its leads to the per-stage totals only: the board counts that
    stage's money from the leads rather than show a total that leaves them out."""
    new = stages["New"]
    make_lead(value="100", currency="USD", stage_id=new.id)
    db.session.commit()
    db.session.execute(text(
        "INSERT INTO leads (first_name, last_name, lifecycle, temperature, score, currency, value_cents, "
        "marketing_consent, created_at, updated_at, search_text, board_rank, version, pipeline_id, stage_id) "
        "VALUES ('Bulk', '', 'lead', 'cold', 0, 'EUR', 40000, :no, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '', 0, 1, "
        ":pipeline, :stage)"), {"no": False, "pipeline": new.pipeline_id, "stage": new.id})
    db.session.execute(text("UPDATE stage_totals SET lead_count = lead_count + 1, value_cents = value_cents + 40000 "
                            "WHERE stage_id = :stage"), {"stage": new.id})
    db.session.commit()
    _, client = login_as("admin")
    set_rates(client, EUR="1.5")
    head = plain(column_head(client.get("/pipeline").text, new.id))
    assert "2 leads" in head and "$700 USD" in head


def test_a_lead_shows_its_own_currency_and_the_converted_value(login_as, make_lead, stages):
    euro = make_lead(first_name="Euro", value="2500", currency="EUR", stage_id=stages["New"].id)
    dollar = make_lead(first_name="Dollar", value="2500", currency="USD", stage_id=stages["New"].id)
    franc = make_lead(first_name="Franc", value="900", currency="CHF", stage_id=stages["New"].id)
    db.session.commit()
    _, client = login_as("admin")
    set_rates(client, EUR="1.0834")
    value_row = re.compile(r'<div class="field-row" id="field-value".*?</div>', re.S)
    euro_row = plain(value_row.search(client.get(f"/leads/{euro.id}").text).group(0))
    set_on = format_day(datetime.now(timezone.utc), UTC_ZONE)  # the admin reads times in UTC
    assert "€2,500" in euro_row and f"≈ $2,708.50 USD (at 1.0834, set {set_on})" in euro_row
    dollar_row = plain(value_row.search(client.get(f"/leads/{dollar.id}").text).group(0))
    assert "$2,500" in dollar_row and "≈" not in dollar_row
    franc_row = value_row.search(client.get(f"/leads/{franc.id}").text).group(0)
    assert "900 CHF" in plain(franc_row) and "no rate to USD yet" in plain(franc_row)
    assert "/settings/currency#rate-CHF" in franc_row


def test_totals_follow_the_base_currency(login_as, make_lead, stages):
    new = stages["New"]
    add_leads(new, ("Us", "1000", "USD"), ("Eu", "1000", "EUR"))
    _, client = login_as("admin")
    set_rates(client, EUR="1.25")
    assert client.post("/settings/currency/base", data={"base_currency": "EUR"}).status_code == 302
    head = plain(column_head(client.get("/pipeline").text, new.id))
    # The EUR → USD rate means nothing with EUR as the base; no USD → EUR rate is set yet.
    assert "€1,000 EUR" in head and "+ $1,000 without a rate" in head
    set_rates(client, USD="0.8")
    assert "€1,800 EUR" in plain(column_head(client.get("/pipeline").text, new.id))
    assert client.post("/settings/currency/base", data={"base_currency": "USD"}).status_code == 302
    assert "$2,250 USD" in plain(column_head(client.get("/pipeline").text, new.id))  # the USD rates come back


def test_a_lead_changing_currency_moves_its_value_between_the_totals(login_as, make_lead, stages):
    from leadflow.leads import services

    new = stages["New"]
    lead = make_lead(value="1000", currency="USD", stage_id=new.id)
    db.session.commit()
    admin, client = login_as("admin")
    services.update_lead(admin, lead, {"currency": "CHF"})
    db.session.commit()
    head = plain(column_head(client.get("/pipeline").text, new.id))
    assert "$0 USD" in head and "+ 1,000 CHF without a rate" in head


def test_the_board_query_count_does_not_grow_with_currencies(login_as, make_lead, stages, count_queries):
    _, client = login_as("admin")
    set_rates(client, EUR="1.1", GBP="1.3")
    make_lead(value="10", currency="USD", stage_id=stages["New"].id)
    db.session.commit()
    client.get("/pipeline")
    with count_queries() as one:
        client.get("/pipeline")
    for currency in ("EUR", "GBP", "CHF", "JPY"):
        for stage in stages.values():
            factories.make_lead(value="10", currency=currency, stage_id=stage.id)
    db.session.commit()
    with count_queries() as many:
        page = client.get("/pipeline").text
    assert len(one) == len(many)
    assert "without a rate" in page
