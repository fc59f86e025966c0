"""What each lead source cost per month (``SourceCost``), as admins enter it under
/settings/source-costs; the sources report divides it by leads and customers."""

from __future__ import annotations

from datetime import date

from leadflow.db import dialect_insert, utcnow
from leadflow.errors import NotFound, PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.governance.audit import record_event
from leadflow.governance.models import CURRENCIES
from leadflow.leads.models import SOURCES
from leadflow.reports.models import SourceCost


def _require_admin(actor) -> None:
    if getattr(actor, "role", None) != "admin":
        raise PermissionDenied("Only admins enter what sources cost.")


def describe(source: str, month: date, amount_cents: int, currency: str) -> str:
    return f"{source}, {month:%B %Y}: {amount_cents / 100:,.2f} {currency}"


def save_source_cost(actor, source: str, month: date, amount_cents: int, currency: str) -> SourceCost:
    """Set the cost of ``source`` in ``month`` (its first day is kept), replacing one entered
    before for the same source and month (one statement: the unique key decides)."""
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    if source not in SOURCES:
        errors["source"] = ["Choose a source from the list."]
    if currency not in CURRENCIES:
        errors["currency"] = ["Choose a currency from the list."]
    if amount_cents is None or amount_cents < 0:
        errors["amount"] = ["Enter an amount of zero or more."]
    if month is None or not date(2000, 1, 1) <= month <= date(2100, 12, 1):
        errors["month"] = ["Choose a month between 2000 and 2100."]
    if errors:
        raise ValidationFailed(errors)
    month = month.replace(day=1)
    insert = dialect_insert(db.session.get_bind().dialect.name)
    values = {"source": source, "month": month, "amount_cents": amount_cents, "currency": currency,
              "updated_at": utcnow(), "updated_by_id": actor.id}
    statement = insert(SourceCost.__table__).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["source", "month"],
        set_={key: statement.excluded[key] for key in ("amount_cents", "currency", "updated_at", "updated_by_id")})
    cost_id = db.session.execute(statement.returning(SourceCost.__table__.c.id)).scalar_one()
    record_event(actor, "source_cost", cost_id, "save", describe(source, month, amount_cents, currency))
    return db.session.get(SourceCost, cost_id, populate_existing=True)


def delete_source_cost(actor, cost_id: int) -> SourceCost:
    _require_admin(actor)
    cost = db.session.get(SourceCost, cost_id)
    if cost is None:
        raise NotFound("That cost was already removed.")
    record_event(actor, "source_cost", cost.id, "delete", describe(cost.source, cost.month, cost.amount_cents, cost.currency))
    db.session.delete(cost)
    db.session.flush()
    return cost


def source_costs() -> list[SourceCost]:
    """Every cost entered, newest month first."""
    return list(db.session.scalars(db.select(SourceCost).order_by(SourceCost.month.desc(), SourceCost.source)))
