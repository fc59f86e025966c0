"""Settings → Lead routing (admins): ordered rules, the fallback owner and a preview."""

from __future__ import annotations

from flask import Blueprint, flash, request, url_for
from flask_login import current_user

from leadflow.accounts.models import User
from leadflow.db import get_by_id
from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.routing import services
from leadflow.routing.forms import FallbackForm, RoutingRuleForm
from leadflow.routing.models import RoutingRule, STRATEGY_LABELS
from leadflow.web.admin import act_and_redirect, move_and_redirect
from leadflow.web.forms import apply_errors
from leadflow.web.htmx import redirect_to, render_page
from leadflow.web.permissions import admin_required

bp = Blueprint("routing", __name__, url_prefix="/settings/routing")


def _rule(rule_id: int):
    return services.get_rule(rule_id)  # NotFound: the app's 404


def _index_context(fallback_form=None, preview=None) -> dict:
    form = fallback_form or FallbackForm(fallback_owner_id=str(services.get_setting(services.FALLBACK_SETTING) or ""))
    rules = list(db.session.scalars(db.select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)))
    return {"rules": rules, "fallback_form": form, "preview": preview, "strategy_labels": STRATEGY_LABELS}


@bp.get("")
@admin_required
def index():
    preview = None
    lead_ref = request.args.get("lead_id", "").strip()
    if lead_ref:
        lead = get_by_id(Lead, lead_ref)
        if lead is None or lead.deleted_at is not None:
            preview = {"error": f"There is no lead with id {lead_ref}."}
        else:
            decision = services.route_lead(lead, preview=True)
            owner = db.session.get(User, decision.user_id) if decision.user_id else None
            preview = {"lead": lead, "owner": owner, "reason": decision.reason}
            db.session.rollback()
    return render_page("routing/index.html", **_index_context(preview=preview))


def _save(form: RoutingRuleForm, rule=None):
    if form.validate_on_submit():
        try:
            if rule is None:
                rule = services.create_rule(current_user, form.service_data())
            else:
                services.update_rule(current_user, rule, form.service_data())
        except ValidationFailed as exc:
            db.session.rollback()
            apply_errors(form, exc.errors)
        else:
            flash(f"Routing rule {rule.name} saved.", "success")
            return redirect_to(url_for("routing.index"))
    status = 422 if form.is_submitted() else 200
    return render_page("routing/rule_form.html", form=form, rule=rule, status=status)


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def new_rule():
    return _save(RoutingRuleForm())


@bp.route("/<int:rule_id>", methods=["GET", "POST"])
@admin_required
def edit_rule(rule_id: int):
    rule = _rule(rule_id)
    form = RoutingRuleForm()
    if request.method == "GET":
        form.load(rule)
    return _save(form, rule)


@bp.post("/<int:rule_id>/move")
@admin_required
def move_rule(rule_id: int):
    rule = _rule(rule_id)
    direction = request.form.get("direction", "")
    return move_and_redirect(lambda: services.move_rule(current_user, rule, direction), f"Rule {rule.name}",
                             direction, url_for("routing.index"))


@bp.post("/<int:rule_id>/active")
@admin_required
def toggle_rule(rule_id: int):
    rule = _rule(rule_id)
    active = not rule.active
    return act_and_redirect(lambda: services.set_rule_active(current_user, rule, active),
                            f"Rule {rule.name} {'resumed' if active else 'paused'}.", url_for("routing.index"))


@bp.post("/<int:rule_id>/delete")
@admin_required
def delete_rule(rule_id: int):
    rule = _rule(rule_id)
    return act_and_redirect(lambda: services.delete_rule(current_user, rule), f"Routing rule {rule.name} deleted.",
                            url_for("routing.index"))


@bp.post("/fallback")
@admin_required
def set_fallback():
    form = FallbackForm()
    if form.validate_on_submit():
        try:
            user = services.set_fallback_owner(current_user, form.fallback_owner_id.data)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_errors(form, exc.errors)
        else:
            flash(f"Fallback owner set to {user.name}." if user else "New leads no rule places stay unassigned.",
                  "success")
            return redirect_to(url_for("routing.index"))
    return render_page("routing/index.html", status=422, **_index_context(fallback_form=form))
