"""What each lead source cost per month (``/settings/source-costs``, admins): the sources
report's cost per lead and per customer. Form errors come back as the page with 422."""

from __future__ import annotations

from flask import Blueprint, url_for
from flask_login import current_user

from leadflow.governance.money import base_currency
from leadflow.reports import costs
from leadflow.reports.forms import SourceCostForm
from leadflow.web.admin import act_and_redirect, save_and_redirect
from leadflow.web.forms import apply_errors
from leadflow.web.htmx import render_page
from leadflow.web.permissions import admin_required

bp = Blueprint("source_costs", __name__, url_prefix="/settings/source-costs")


def _page(form: SourceCostForm, status: int = 200):
    return render_page("reports/source_costs.html", status=status, form=form, costs=costs.source_costs(),
                       base=base_currency())


@bp.get("")
@admin_required
def index():
    return _page(SourceCostForm(data={"currency": base_currency()}))


@bp.post("")
@admin_required
def save():
    form = SourceCostForm()
    cents = form.amount_cents() if form.validate_on_submit() else None
    if cents is None:
        return _page(form, 422)

    def refused(errors):
        apply_errors(form, errors)
        return _page(form, 422)
    return save_and_redirect(
        lambda: costs.save_source_cost(current_user, form.source.data, form.month.data, cents, form.currency.data),
        refused, lambda saved: f"Saved: {costs.describe(saved.source, saved.month, saved.amount_cents, saved.currency)}.",
        lambda saved: url_for("source_costs.index"))


@bp.post("/<int:cost_id>/delete")
@admin_required
def delete(cost_id: int):
    return act_and_redirect(lambda: costs.delete_source_cost(current_user, cost_id), "Cost removed.",
                            url_for("source_costs.index"))
