"""Monthly targets: the won value a team aims for in a month, for the whole workspace or one
pipeline. Admins set them (``/settings/targets``); the forecast report shows each month's won
value against its target. A target is kept in the base currency of the day it was set and
converted like any amount when shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from leadflow.db import get_by_id
from leadflow.errors import NotFound, PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.governance.audit import record_changes
from leadflow.governance.money import MoneyTotal, Rates, base_currency, total_in_base
from leadflow.pipeline.models import Pipeline
from leadflow.reports.models import MonthlyTarget

TARGET_ROLES = ("admin",)
FIRST_MONTH, LAST_MONTH = date(2000, 1, 1), date(2099, 12, 1)


def can_set_targets(actor) -> bool:
    return getattr(actor, "role", None) in TARGET_ROLES


def _require_admin(actor) -> None:
    if not can_set_targets(actor):
        raise PermissionDenied("Only admins can set monthly targets.")


def parse_month(raw) -> date:
    """The first day of the month typed as "2026-11"; ValueError with what to type."""
    text = (raw or "").strip() if isinstance(raw, str) else raw
    if isinstance(text, date):
        month = text.replace(day=1)
    else:
        try:
            year, number = text.split("-")
            month = date(int(year), int(number), 1)
        except (AttributeError, ValueError):
            raise ValueError("Enter a month as YYYY-MM, for example 2026-11.") from None
    if not FIRST_MONTH <= month <= LAST_MONTH:
        raise ValueError("Choose a month from 2000 to 2099.")
    return month


def _target_name(target: MonthlyTarget) -> str:
    return f"{target.month:%b %Y} ({target.pipeline.name if target.pipeline else 'all pipelines'})"


def set_target(actor, month: date, pipeline_id: int | None, amount_cents: int) -> MonthlyTarget:
    """The target for ``month`` (any day of it) and the pipeline (None: every pipeline), in the
    base currency: added, or the existing one changed. Two admins saving the same month at once
    meet the unique index; the request runs again and changes the row the other added."""
    _require_admin(actor)
    month = parse_month(month)
    if pipeline_id is not None and db.session.get(Pipeline, pipeline_id) is None:
        raise ValidationFailed({"pipeline": ["Choose a pipeline from the list."]})
    if amount_cents is None or amount_cents < 0:
        raise ValidationFailed({"amount": ["Enter an amount of zero or more."]})
    currency = base_currency()
    target = db.session.scalar(db.select(MonthlyTarget).where(
        MonthlyTarget.month == month, MonthlyTarget.pipeline_id.is_(None) if pipeline_id is None
        else MonthlyTarget.pipeline_id == pipeline_id))
    before = {} if target is None else {"amount": f"{target.amount_cents / 100:.2f} {target.currency}"}
    if target is None:
        target = MonthlyTarget(month=month, pipeline_id=pipeline_id)
        db.session.add(target)
    target.amount_cents, target.currency, target.set_by_id = amount_cents, currency, getattr(actor, "id", None)
    db.session.flush()
    record_changes(actor, "monthly_target", target.id, before, {"amount": f"{amount_cents / 100:.2f} {currency}"},
                   action="update" if before else "create")
    return target


def remove_target(actor, target_id: int) -> str:
    """Remove a target; returns its name for the message."""
    _require_admin(actor)
    target = get_by_id(MonthlyTarget, target_id)
    if target is None:
        raise NotFound("That target was removed already.")
    name = _target_name(target)
    record_changes(actor, "monthly_target", target.id, {"amount": f"{target.amount_cents / 100:.2f} {target.currency}"},
                   {"amount": None}, action="delete")
    db.session.delete(target)
    db.session.flush()
    return name


@dataclass(frozen=True)
class TargetRow:
    id: int
    month: date
    pipeline: str
    amount_cents: int
    currency: str


def target_rows() -> list[TargetRow]:
    """Every target, latest month first, the workspace's before each pipeline's."""
    query = (db.select(MonthlyTarget.id, MonthlyTarget.month, Pipeline.name, MonthlyTarget.amount_cents,
                       MonthlyTarget.currency)
             .outerjoin(Pipeline, Pipeline.id == MonthlyTarget.pipeline_id)
             .order_by(MonthlyTarget.month.desc(), MonthlyTarget.pipeline_id.is_not(None), Pipeline.name))
    return [TargetRow(i, month, name or "All pipelines", cents, currency)
            for i, month, name, cents, currency in db.session.execute(query)]


def targets_by_month(first_days: list[date], pipeline_id: int | None, rates: Rates) -> dict[date, MoneyTotal]:
    """The target of each month (by its first day) for the pipeline (None: the workspace's),
    in the base currency; months without one are missing."""
    if not first_days:
        return {}
    which = MonthlyTarget.pipeline_id.is_(None) if pipeline_id is None else MonthlyTarget.pipeline_id == pipeline_id
    query = (db.select(MonthlyTarget.month, MonthlyTarget.currency, MonthlyTarget.amount_cents)
             .where(which, MonthlyTarget.month.in_(first_days)))
    return {month: total_in_base({currency: (1, cents)}, rates) for month, currency, cents in db.session.execute(query)}
