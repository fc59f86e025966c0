"""``/settings/targets``: the monthly targets the forecast report compares won value with
(admins only). Form errors come back as the page with 422."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from leadflow.db import parse_id
from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.governance.money import base_currency
from leadflow.pipeline.models import Pipeline
from leadflow.reports.forms import TargetForm
from leadflow.reports.targets import remove_target, set_target, target_rows
from leadflow.web.admin import act_and_redirect
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


@targets_bp.route("", methods=["GET", "POST"])
@admin_required
def index():
    form, status = _form(), 200
    if form.validate_on_submit():
        try:
            target = set_target(current_user, form.first_day, parse_id(form.pipeline.data), form.amount_cents)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_errors(form, exc.errors)
            status = 422
        else:
            flash(f"Target for {target.month:%B %Y} saved.", "success")
            return redirect(url_for("targets.index"))
    elif form.is_submitted():
        status = 422
    return render_page("reports/targets.html", form=form, rows=target_rows(), base=base_currency(), status=status)


@targets_bp.post("/<int:target_id>/delete")
@admin_required
def delete(target_id: int):
    return act_and_redirect(lambda: remove_target(current_user, target_id), "Target removed.",
                            url_for("targets.index"))
