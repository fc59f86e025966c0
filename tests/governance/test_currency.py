"""Settings → Currency and rates: an admin chooses the base currency and sets exchange rates
(each showing when and by whom); bad input is refused whole; nobody else can change them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from leadflow.extensions import db
from leadflow.governance.models import AuditEntry, ExchangeRate
from leadflow.governance.money import base_currency, current_rates, parse_rate
from leadflow.governance.settings import set_setting

from tests.factories import TEST_SETUP


def stored_rates() -> dict:
    db.session.expire_all()
    return {(r.base_currency, r.currency): r.rate for r in db.session.scalars(db.select(ExchangeRate))}


def test_a_new_workspace_says_what_to_do(app, login_as):
    _, client = login_as("admin")
    page = client.get("/settings/currency")
    assert page.status_code == 200
    assert "No exchange rates to USD yet" in page.text
    for currency in ("EUR", "GBP", "CHF"):
        assert f'<label for="rate-input-{currency}">1 {currency} =</label>' in page.text
    assert 'for="base_currency"' in page.text and 'name="csrf_token"' in page.text


def test_an_admin_sets_rates_and_the_page_says_when_and_by_whom(app, login_as):
    admin, client = login_as("admin", name="Rita Rates")
    response = client.post("/settings/currency", data={"rate-EUR": " 1.0834 ", "rate-GBP": "1.27113", "rate-CHF": ""})
    assert response.status_code == 302
    assert stored_rates() == {("USD", "EUR"): Decimal("1.0834"), ("USD", "GBP"): Decimal("1.27113")}
    page = client.get("/settings/currency").text
    assert "Rates saved for EUR, GBP; totals use them now." in page
    assert 'value="1.0834"' in page and 'value="1.27113"' in page and page.count("by Rita Rates") == 2
    assert "No exchange rates" not in page
    entries = {(e.field, e.old_value, e.new_value, e.actor_id) for e in db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.entity_type == "exchange_rate"))}
    assert ("1 EUR in USD", None, "1.0834", admin.id) in entries
    # Saving the same rates again changes nothing (and keeps the day they were set).
    client.post("/settings/currency", data={"rate-EUR": "1.08340", "rate-GBP": "1.27113"})
    assert "No rate changed." in client.get("/settings/currency").text


@pytest.mark.parametrize("typed, message", [
    ("1,08", "Use a point for decimals"), ("abc", "Enter a number"), ("0", "above zero"), ("-2", "above zero"),
    ("1.123456789", "at most 8 digits"), ("10000000", "below 10,000,000"), ("NaN", "above zero"),
])
def test_a_bad_rate_is_refused_with_a_message_and_nothing_is_saved(app, login_as, typed, message):
    _, client = login_as("admin")
    response = client.post("/settings/currency", data={"rate-EUR": "1.1", "rate-GBP": typed})
    assert response.status_code == 422
    assert message in response.text and f'value="{typed}"' in response.text and 'aria-invalid="true"' in response.text
    assert stored_rates() == {}


def test_a_rate_for_the_base_currency_or_an_unknown_one_is_refused(app, login_as):
    _, client = login_as("admin")
    assert client.post("/settings/currency", data={"rate-USD": "1"}).status_code == 422
    assert client.post("/settings/currency", data={"rate-XYZ": "1"}).status_code == 422
    assert client.post("/settings/currency/base", data={"base_currency": "XYZ"}).status_code == 422
    assert stored_rates() == {} and base_currency() == "USD"


@pytest.mark.parametrize("role", ["viewer", "rep", "manager"])
def test_only_admins_change_rates_or_the_base(app, login_as, role):
    set_setting(TEST_SETUP, "base_currency", "USD")
    db.session.add(ExchangeRate(base_currency="USD", currency="EUR", rate=Decimal("1.1")))
    db.session.commit()
    _, client = login_as(role)
    assert client.get("/settings/currency").status_code == 403
    assert client.post("/settings/currency", data={"rate-EUR": "9"}).status_code == 403
    assert client.post("/settings/currency/base", data={"base_currency": "EUR"}).status_code == 403
    assert stored_rates() == {("USD", "EUR"): Decimal("1.1")} and base_currency() == "USD"


def test_the_base_currency_starts_as_the_default_currency_of_new_leads(app):
    assert base_currency() == "USD"
    set_setting(TEST_SETUP, "default_currency", "GBP")
    assert base_currency() == "GBP"
    set_setting(TEST_SETUP, "base_currency", "EUR")
    assert base_currency() == "EUR"


def test_rates_belong_to_the_base_they_were_set_for(app, login_as):
    _, client = login_as("admin")
    client.post("/settings/currency", data={"rate-EUR": "1.1"})
    response = client.post("/settings/currency/base", data={"base_currency": "EUR"})
    assert response.status_code == 302
    page = client.get("/settings/currency").text
    assert "Totals are now shown in EUR" in page and "No exchange rates to EUR yet" in page
    assert current_rates().base == "EUR" and current_rates().by_currency == {}


def test_the_database_refuses_a_rate_that_is_not_positive(app):
    from sqlalchemy.exc import IntegrityError

    db.session.add(ExchangeRate(base_currency="USD", currency="EUR", rate=Decimal("0")))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize("typed", ["1.08", "0.00000001", "9999999.99999999", "123.456"])
def test_rates_are_stored_exactly(app, typed):
    db.session.add(ExchangeRate(base_currency="USD", currency="EUR", rate=parse_rate(typed)))
    db.session.commit()
    assert stored_rates()[("USD", "EUR")] == Decimal(typed)
