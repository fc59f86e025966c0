"""Admins enter what a source cost per month; the same source and month again replaces it."""

from __future__ import annotations

from datetime import date

from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.reports.models import SourceCost


def _costs():
    return db.session.execute(db.select(SourceCost.source, SourceCost.month, SourceCost.amount_cents, SourceCost.currency)
                              .order_by(SourceCost.id)).all()


def test_admin_saves_a_cost_and_saving_the_same_month_again_replaces_it(app, login_as):
    _, http = login_as("admin")
    page = http.get("/settings/source-costs").get_data(as_text=True)
    assert "No costs yet." in page and '<label for="month">Month' in page
    saved = http.post("/settings/source-costs", data={"source": "event", "month": "2026-11", "amount": "1,500.50",
                                                      "currency": "EUR"})
    assert saved.status_code == 303
    again = http.post("/settings/source-costs", data={"source": "event", "month": "2026-11", "amount": "2000",
                                                      "currency": "USD"}, follow_redirects=True)
    assert "Saved: event, November 2026: 2,000.00 USD." in again.get_data(as_text=True)
    assert _costs() == [("event", date(2026, 11, 1), 200_000, "USD")]
    assert db.session.scalar(db.select(db.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.entity_type == "source_cost")) == 2


def test_bad_input_shows_the_form_again_with_a_message_per_field(app, login_as):
    _, http = login_as("admin")
    response = http.post("/settings/source-costs", data={"source": "billboards", "month": "November",
                                                         "amount": "-5", "currency": "XXX"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert page.count("Not a valid choice.") == 2  # the source and the currency
    assert "Not a valid date value." in page
    assert _costs() == []
    negative = http.post("/settings/source-costs", data={"source": "event", "month": "2026-11", "amount": "-5",
                                                         "currency": "USD"})
    assert negative.status_code == 422 and "The amount cannot be negative." in negative.get_data(as_text=True)
    assert _costs() == []


def test_admin_removes_a_cost(app, login_as):
    _, http = login_as("admin")
    cost = SourceCost(source="partner", month=date(2026, 10, 1), amount_cents=100, currency="USD")
    db.session.add(cost)
    db.session.commit()
    cost_id = cost.id
    page = http.get("/settings/source-costs").get_data(as_text=True)
    assert "October 2026" in page
    assert http.post(f"/settings/source-costs/{cost_id}/delete").status_code == 303
    assert _costs() == []
    again = http.post(f"/settings/source-costs/{cost_id}/delete", follow_redirects=True)
    assert "That cost was already removed." in again.get_data(as_text=True)


def test_without_a_csrf_token_nothing_is_saved(app, client, login_as):
    login_as("admin")
    response = client.post("/settings/source-costs", data={"source": "event", "month": "2026-11", "amount": "5",
                                                           "currency": "USD"})
    assert response.status_code in (400, 422)
    assert _costs() == []
