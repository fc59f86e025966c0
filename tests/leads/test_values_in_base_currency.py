"""A lead's value is compared with another's, or with an amount, in the base currency, each
converted at the workspace's rate. A value in a currency without a rate is never compared as
if it were in the base: it matches no amount, is sorted last, and the screens say so."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest

from leadflow.extensions import db
from leadflow.governance.models import ExchangeRate
from leadflow.governance.money import Rate, Rates, cents_in_base, current_rates
from leadflow.leads.queries import LeadFilters, lead_list_context
from leadflow.pipeline.services import ensure_default_pipeline
from leadflow.workflows.triggers import condition_holds, conditions_hold

# Base USD. EUR 1.10 and AUD 0.612 have rates; JPY has none.
# In USD: Euro 1,000 EUR = $1,100 · Dollar $1,050 · Aussie 1,800 AUD = $1,101.60 · Small $20 ·
# Yen 1,000,000 JPY (no rate) · Blank (no value).
LEADS = (("Euro", "1000", "EUR"), ("Dollar", "1050", "USD"), ("Aussie", "1800", "AUD"), ("Small", "20", "USD"),
         ("Yen", "1000000", "JPY"), ("Blank", None, "USD"))


def set_rates(**rates) -> None:
    for currency, rate in rates.items():
        db.session.add(ExchangeRate(base_currency="USD", currency=currency, rate=Decimal(rate)))
    db.session.commit()


@pytest.fixture
def leads(make_lead):
    ensure_default_pipeline()
    made = {name: make_lead(first_name=name, last_name="Example", value=value, currency=currency)
            for name, value, currency in LEADS}
    set_rates(EUR="1.10", AUD="0.612")
    return made


def names(page: str) -> list[str]:
    return re.findall(r'class="wrap lead-name"><a href="/leads/\d+">(\w+) Example</a>', page)


def test_sorting_by_value_orders_every_currency_by_its_base_value_with_the_uncomparable_last(login_as, leads):
    _, client = login_as("admin")
    highest = names(client.get("/leads?sort=value&dir=desc").text)
    # Yen (no rate) is not the top: it comes last with Blank (no value), those two by id like any tie.
    assert highest == ["Aussie", "Euro", "Dollar", "Small", "Blank", "Yen"]
    lowest = names(client.get("/leads?sort=value&dir=asc").text)
    assert lowest == ["Small", "Dollar", "Euro", "Aussie", "Yen", "Blank"]
    page = client.get("/leads?sort=value").text
    assert "No exchange rate to USD for JPY" in page and "sorted last" in page


def test_the_value_range_is_in_the_base_currency_and_leaves_out_values_without_a_rate(login_as, leads):
    _, client = login_as("admin")
    page = client.get("/leads?value_from=1100&value_to=1101.60&sort=value&dir=asc").text
    assert names(page) == ["Euro", "Aussie"]  # $1,100 and $1,101.60, bounds included; Dollar ($1,050) is not
    assert names(client.get("/leads?value_from=1000000").text) == []  # ¥1,000,000 is not $1,000,000
    note = re.search(r'<p class="muted" id="unrated-note".*?</p>', page, re.S).group(0)
    assert "JPY" in note and "left out of the value range" in note
    assert 'id="f-value-from"' in page and "Value from (USD, base currency)" in page
    assert 'value="1100"' in page and 'value="1101.60"' in page  # the range stays in the form


def test_a_bad_value_in_the_range_is_ignored_with_a_message(login_as, leads):
    _, client = login_as("admin")
    response = client.get("/leads?value_from=lots&value_to=50")
    assert response.status_code == 200
    assert "Ignored the value “lots”: enter an amount such as 5000 or 5000.50." in response.text
    assert names(response.text) == ["Small"]  # the good bound still applies
    swapped = client.get("/leads?value_from=2000&value_to=10").text
    assert "The value “from” is above the value “to”" in swapped


def test_the_export_keeps_the_value_range_and_the_value_order(login_as, leads):
    _, client = login_as("admin")
    page = client.get("/leads?value_from=1000&sort=value&dir=desc").text
    link = re.search(r'href="(/leads/export\.csv\?[^"]+)"', page).group(1).replace("&amp;", "&")
    assert "value_from=1000" in link
    rows = list(csv.DictReader(io.StringIO(client.get(link).data.decode("utf-8-sig"))))
    assert [r["First name"] for r in rows] == ["Aussie", "Euro", "Dollar"]


def test_the_lead_list_shows_each_value_in_its_currency_and_converted(login_as, leads):
    _, client = login_as("admin")
    page = client.get("/leads?sort=value&dir=desc").text
    row = re.search(rf'id="lead-row-{leads["Euro"].id}".*?</tr>', page, re.S).group(0)
    assert "€1,000" in row and "≈ $1,100 USD" in row
    yen = re.search(rf'id="lead-row-{leads["Yen"].id}".*?</tr>', page, re.S).group(0)
    assert "1,000,000 JPY" in yen and "no rate to USD" in yen and "≈" not in yen
    dollar = re.search(rf'id="lead-row-{leads["Dollar"].id}".*?</tr>', page, re.S).group(0)
    assert "$1,050" in dollar and "≈" not in dollar


def test_the_board_card_shows_the_converted_value_and_the_board_filter_converts(login_as, leads):
    _, client = login_as("admin")
    board = client.get("/pipeline").text
    card = re.search(rf'id="card-{leads["Aussie"].id}".*?</article>', board, re.S).group(0)
    assert "1,800 AUD" in card and "≈ $1,101.60 USD" in card
    filtered = client.get("/pipeline?value_min=1100").text
    shown = set(re.findall(r'class="card-name">(\w+) Example<', filtered))
    assert shown == {"Euro", "Aussie"}
    assert "Value from (USD, base currency)" in filtered


def test_the_lead_page_shows_the_rate_and_the_day_it_was_set(login_as, leads):
    _, client = login_as("admin")
    page = client.get(f"/leads/{leads['Aussie'].id}").text
    row = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.search(r'id="field-value".*?</div>', page, re.S).group(0)))
    assert "1,800 AUD" in row and "≈ $1,101.60 USD (at 0.612, set " in row


def test_workflow_conditions_on_value_compare_in_the_base_currency(app, leads):
    def holds(name, operator, amount):
        return condition_holds(leads[name], {"field": "value", "operator": operator, "value": amount})

    assert holds("Euro", "at_least", "1100") and not holds("Euro", "at_least", "1100.01")
    assert holds("Aussie", "at_most", "1101.60") and not holds("Aussie", "at_most", "1101.59")
    assert holds("Euro", "is", "1100") and not holds("Euro", "is", "1000")
    # No rate: no amount matches, in either direction; the lead still "has a value".
    for operator, amount in (("at_least", "0"), ("at_most", "99999999"), ("is", "1000000"), ("is_not", "5")):
        assert not holds("Yen", operator, amount), operator
    assert holds("Yen", "is_set", "") and not holds("Yen", "is_empty", "")
    assert holds("Blank", "is_empty", "") and holds("Blank", "is_not", "5") and not holds("Blank", "at_most", "5")
    # The rates are read once for all conditions (or given).
    assert conditions_hold(leads["Euro"], [{"field": "value", "operator": "at_least", "value": "1000"},
                                           {"field": "value", "operator": "at_most", "value": "1200"}])


def test_a_workflow_rule_runs_only_for_leads_worth_enough_in_the_base_currency(app, make_lead):
    from leadflow.workflows.models import WorkflowRule

    set_rates(EUR="1.10")
    db.session.add(WorkflowRule(name="Big deals", active=True, trigger="lead_created", trigger_config={},
                                conditions=[{"field": "value", "operator": "at_least", "value": "1050"}],
                                actions=[{"type": "add_tag", "tag": "big"}], secret="s"))
    db.session.flush()
    euro = make_lead(value="1000", currency="EUR")      # $1,100
    dollar = make_lead(value="1000", currency="USD")    # $1,000
    yen = make_lead(value="5000000", currency="JPY")    # no rate
    assert [[t.name for t in lead.tags] for lead in (euro, dollar, yen)] == [["big"], [], []]


def test_the_workflow_editor_names_the_base_currency(login_as):
    from leadflow.workflows.models import WorkflowRule

    _, client = login_as("admin")
    rule = WorkflowRule(name="Big deals", active=True, trigger="lead_created", trigger_config={}, secret="s",
                        conditions=[{"field": "value", "operator": "at_least", "value": "1050"}],
                        actions=[{"type": "add_tag", "tag": "big"}])
    db.session.add(rule)
    db.session.commit()
    page = client.get(f"/settings/workflows/{rule.id}").text
    assert "Value (USD, base currency)" in page and "compared in USD, the base currency" in page


def test_the_scoring_rule_form_names_the_base_currency(login_as):
    _, client = login_as("admin")
    page = client.get("/settings/scoring/rules/new").text
    assert page.count('<option value="value"') == 1 and "Deal value (USD, base currency)</option>" in page


def test_the_conversion_rounds_to_whole_cents_the_same_way_in_python_and_sql(app, leads, make_user):
    rates = current_rates()
    assert cents_in_base(180000, "AUD", rates) == 110160
    assert cents_in_base(5, "AUD", Rates("USD", {"AUD": Rate("AUD", Decimal("0.5"), None, "")})) == 3  # half up
    assert cents_in_base(100, "JPY", rates) is None and cents_in_base(None, "USD", rates) is None
    in_range = lead_list_context(LeadFilters(value_from=110160, value_to=110160), make_user("admin"))
    assert [row.id for row in in_range["leads"]] == [leads["Aussie"].id]  # SQL's rounding matches
