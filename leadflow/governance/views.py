from __future__ import annotations

from flask import Blueprint, flash, g, redirect, request, url_for
from flask_login import current_user
from jinja2 import pass_context

from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.governance.forms import BaseCurrencyForm, WorkspaceForm
from leadflow.governance.money import (Rates, base_currency, current_rates, lead_value_in_base, rate_rows, set_base_currency,
                                      set_rates)
from leadflow.governance.settings import alert_settings, get_setting, phone_regions, update_workspace
from leadflow.web.forms import apply_errors, select_choices
from leadflow.web.htmx import render_page
from leadflow.web.permissions import admin_required

bp = Blueprint("governance", __name__, url_prefix="/settings")


@bp.route("", methods=["GET", "POST"])
@admin_required
def settings():
    form = WorkspaceForm(data={**{key: get_setting(key) for key in ("workspace_name", "default_phone_region", "default_currency")},
                               **alert_settings()})
    form.default_phone_region.choices = select_choices(phone_regions())
    status = 200
    if form.validate_on_submit():
        try:
            update_workspace(current_user, workspace_name=form.workspace_name.data,
                             default_phone_region=form.default_phone_region.data,
                             default_currency=form.default_currency.data, **form.alert_data())
        except ValidationFailed as exc:
            db.session.rollback()
            apply_errors(form, exc.errors)
            status = 422
        else:
            flash("Workspace settings saved.", "success")
            return redirect(url_for("governance.settings"))
    elif form.is_submitted():
        status = 422
    return render_page("governance/settings.html", form=form, status=status)


@bp.route("/currency", methods=["GET", "POST"])
@admin_required
def currency():
    """The base currency every total is shown in, and the exchange rates to it."""
    typed, errors, status = {}, {}, 200
    if request.method == "POST":
        typed = {key.removeprefix("rate-"): value for key, value in request.form.items() if key.startswith("rate-")}
        try:
            changed = set_rates(current_user, typed)
        except ValidationFailed as exc:
            db.session.rollback()
            errors, status = exc.errors, 422
        else:
            flash(f"Rates saved for {', '.join(changed)}; totals use them now." if changed else "No rate changed.",
                  "success" if changed else "info")
            return redirect(url_for("governance.currency"))
    return _currency_page(BaseCurrencyForm(data={"base_currency": base_currency()}), typed, errors, status)


@bp.post("/currency/base")
@admin_required
def change_base_currency():
    form = BaseCurrencyForm()
    if form.validate_on_submit():
        try:
            set_base_currency(current_user, form.base_currency.data)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_errors(form, exc.errors)
        else:
            flash(f"Totals are now shown in {form.base_currency.data}. Rates are kept per base currency: "
                  f"check the rates to {form.base_currency.data} below.", "success")
            return redirect(url_for("governance.currency"))
    return _currency_page(form, {}, {}, 422)


def _currency_page(form, typed, errors, status):
    return render_page("governance/currency.html", status=status, form=form, base=base_currency(),
                       rows=rate_rows(typed, errors), errors=errors)


@bp.app_template_global()
@pass_context
def value_in_base_currency(ctx, cents, currency):
    """A lead's value in the base currency beside its own, for any page (``ValueInBase``, or
    None when it has no value or is in the base currency). A page that has read the rates
    already passes them as ``money_rates``; otherwise the base is read once a request, and
    the rates once and only when a value needs converting."""
    if cents is None:
        return None
    rates = ctx.get("money_rates")
    if isinstance(rates, Rates):
        return lead_value_in_base(cents, currency, rates)
    if "money_base" not in g:
        g.money_base = base_currency()
    if currency == g.money_base:
        return None
    if "money_rates" not in g:
        g.money_rates = current_rates(g.money_base)
    return lead_value_in_base(cents, currency, g.money_rates)
