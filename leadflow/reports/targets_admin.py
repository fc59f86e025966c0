"""``/settings/targets``: the monthly targets the forecast report compares won value with
(admins only). Form errors come back as the page with 422."""

from __future__ import annotations

from flask import Blueprint, url_for
from flask_login import current_user

from leadflow.db import parse_id
from leadflow.extensions import db
from leadflow.governance.money import base_currency
from leadflow.pipeline.models import Pipeline
from leadflow.reports.forms import TargetForm
from leadflow.reports.targets import remove_target, set_target, target_rows
from leadflow.web.admin import act_and_redirect, save_and_redirect
from leadflow.web.forms import apply_errors, select_choices
from leadflow.web.htmx import render_page
from leadflow.web.permissions import admin_required

# Named for what it serves: the reports area may keep other settings pages beside it.
targets_bp = Blueprint("targets", __name__, url_prefix="/settings/targets")


def _form() -> TargetForm:
    form = TargetForm()
    pipelines = db.session.execute(db.select(Pipeline.id, Pipeline.name).where(Pipeline.archived_at.is_(None))
                                   .order_by(Pipeline.position, Pipeline.id)).all()
    form.pipeline.choices = select_choices([("", "All pipelines"), *((str(i), name) for i, name in pipelines)])
    return form


def _page(form: TargetForm, status: int = 200):
    return render_page("reports/targets.html", form=form, rows=target_rows(), base=base_currency(), status=status)


@targets_bp.get("")
@admin_required
def index():
    return _page(_form())


@targets_bp.post("")
@admin_required
def save():
    form = _form()
    if not form.validate_on_submit():
        return _page(form, 422)

    def refused(errors):
        apply_errors(form, errors)
        return _page(form, 422)
    return save_and_redirect(lambda: set_target(current_user, form.first_day, parse_id(form.pipeline.data), form.amount_cents),
                             refused, lambda target: f"Target for {target.month:%B %Y} saved.",
                             lambda _target: url_for("targets.index"))


@targets_bp.post("/<int:target_id>/delete")
@admin_required
def delete(target_id: int):
    return act_and_redirect(lambda: remove_target(current_user, target_id), "Target removed.",
                            url_for("targets.index"))
