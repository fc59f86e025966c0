from flask import Blueprint
from flask_login import current_user, login_required

from leadflow.dashboard.queries import dashboard_context
from leadflow.web.htmx import render_page

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@login_required
def index():
    return render_page("dashboard/index.html", **dashboard_context(current_user))
