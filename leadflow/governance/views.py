from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.governance.forms import WorkspaceForm
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
            db.session.commit()
            flash("Workspace settings saved.", "success")
            return redirect(url_for("governance.settings"))
    elif form.is_submitted():
        status = 422
    return render_page("governance/settings.html", form=form, status=status)
