"""Workflow rules for admins: ``/settings/workflows``.

Parse, call a service, commit once, render. Form errors come back as the editor
re-rendered with 422.
"""

from __future__ import annotations

from flask import Blueprint, abort, request, url_for
from flask_login import current_user

from leadflow.db import parse_page
from leadflow.extensions import db
from leadflow.web.admin import act_and_redirect, save_and_redirect
from leadflow.web.htmx import render_page
from leadflow.web.permissions import admin_required
from leadflow.workflows import forms, queries, services, webhooks
from leadflow.workflows.models import WebhookDelivery, WorkflowRule

bp = Blueprint("workflows", __name__, url_prefix="/settings/workflows")


def _rule(rule_id: int) -> WorkflowRule:
    return db.get_or_404(WorkflowRule, rule_id)


def _editor(rule: WorkflowRule | None, values: dict, errors: dict | None = None, status: int = 200):
    return render_page("workflows/edit.html", status=status, rule=rule, values=values, errors=errors or {},
                       **queries.editor_choices())


def _save(action, rule: WorkflowRule | None, values: dict, success: str):
    if "add_condition" in request.form or "add_action" in request.form:
        key = "conditions" if "add_condition" in request.form else "actions"
        values[key].append({})
        return _editor(rule, values)
    return save_and_redirect(action, lambda errors: _editor(rule, values, errors, status=422), success,
                             lambda saved: url_for("workflows.edit", rule_id=saved.id))


@bp.get("")
@admin_required
def index():
    return render_page("workflows/index.html", **queries.rules_context())


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def new():
    if request.method == "GET":
        return _editor(None, forms.blank_rule_input())
    values = forms.rule_input(request.form)
    return _save(lambda: services.create_rule(current_user, values), None, values, "Rule “{saved.name}” created.")


@bp.route("/<int:rule_id>", methods=["GET", "POST"])
@admin_required
def edit(rule_id: int):
    rule = _rule(rule_id)
    if request.method == "GET":
        return _editor(rule, forms.rule_input_from_model(rule))
    values = forms.rule_input(request.form)
    return _save(lambda: services.update_rule(current_user, rule, values), rule, values, "Rule “{saved.name}” saved.")


@bp.post("/<int:rule_id>/active")
@admin_required
def set_active(rule_id: int):
    rule = _rule(rule_id)
    active = request.form.get("active") == "1"
    return act_and_redirect(lambda: services.set_rule_active(current_user, rule, active),
                            f"Rule “{rule.name}” {'resumed' if active else 'paused: it does not run until you resume it'}.",
                            url_for("workflows.index"), "success" if active else "info")


@bp.post("/<int:rule_id>/delete")
@admin_required
def delete(rule_id: int):
    rule = _rule(rule_id)
    return act_and_redirect(lambda: services.delete_rule(current_user, rule),
                            f"Rule “{rule.name}” deleted with its run log.", url_for("workflows.index"))


@bp.post("/<int:rule_id>/deliveries/<int:delivery_id>/retry")
@admin_required
def retry_delivery(rule_id: int, delivery_id: int):
    delivery = db.get_or_404(WebhookDelivery, delivery_id)
    if delivery.rule_id != rule_id:
        abort(404)
    return act_and_redirect(lambda: webhooks.retry_delivery(current_user, delivery),
                            "The webhook call will be sent again within a minute; its outcome shows here.",
                            url_for("workflows.runs", rule_id=rule_id, page=request.form.get("page", 1, type=int)),
                            "info")


@bp.get("/<int:rule_id>/runs")
@admin_required
def runs(rule_id: int):
    page = parse_page(request.args.get("page", 1))
    return render_page("workflows/runs.html", block="runs", **queries.runs_context(_rule(rule_id), page))
