"""Organization pages (placeholder routes; being built out)."""

from flask import Blueprint, abort
from flask_login import login_required

bp = Blueprint("organizations", __name__, url_prefix="/organizations")


@bp.get("")
@login_required
def index():
    abort(404)


@bp.get("/<int:org_id>")
@login_required
def detail(org_id: int):
    abort(404)
