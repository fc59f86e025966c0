"""Settings → API tokens: admins make, list and revoke the tokens programs use."""

from __future__ import annotations

from flask import Blueprint, flash, url_for
from flask_login import current_user

from leadflow.accounts.models import User
from leadflow.api import services
from leadflow.api.forms import TokenForm
from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.web.forms import apply_errors
from leadflow.web.htmx import redirect_to, render_page
from leadflow.web.permissions import admin_required

bp = Blueprint("api_admin", __name__, url_prefix="/settings/api-tokens")


def _page(form: TokenForm, status: int = 200, new_token: str | None = None, created=None):
    response = render_page("api_admin/index.html", status=status, form=form, tokens=services.list_tokens(),
                           new_token=new_token, created=created)
    if new_token:  # the one page that shows a secret: never kept by any cache
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("")
@admin_required
def index():
    form = TokenForm()
    form.user_id.data = str(current_user.id)
    return _page(form)


@bp.post("")
@admin_required
def create():
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    try:
        token, plain = services.create_token(current_user, user=db.session.get(User, int(form.user_id.data)),
                                             name=form.name.data, scopes=form.scopes)
    except ValidationFailed as exc:
        db.session.rollback()
        apply_errors(form, exc.errors)
        return _page(form, 422)
    # Shown in this answer only (not flashed: the session cookie is signed, not secret).
    fresh = TokenForm(formdata=None)
    fresh.user_id.data = str(current_user.id)
    return _page(fresh, 201, new_token=plain, created=token)


@bp.post("/<int:token_id>/revoke")
@admin_required
def revoke(token_id: int):
    token = services.get_token(token_id)  # NotFound: the app's 404
    if services.revoke_token(current_user, token):
        flash(f"Token “{token.name}” ({token.prefix}…) revoked. Programs using it now get 401.", "success")
    else:
        flash(f"Token “{token.name}” was already revoked.", "info")
    return redirect_to(url_for("api_admin.index"))
