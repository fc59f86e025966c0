from flask import Blueprint, request
from flask_login import current_user, login_required

from leadflow.dashboard.queries import home_context, month_part, summary_part, today_part
from leadflow.db import utcnow
from leadflow.web.htmx import is_fragment_request, render_page

bp = Blueprint("dashboard", __name__)

HOME = "dashboard/index.html"


@bp.get("/")
@login_required
def index():
    """The home page; for htmx (the view switch) its content alone."""
    return render_page(HOME, block="home", **home_context(current_user, request.args.get("view"), utcnow()))


@bp.get("/home/today-summary")
@login_required
def today_summary():
    """The line counting what is due and waiting: refreshed after a task changes; without
    htmx the whole page."""
    if is_fragment_request():
        return render_page(HOME, block="today_summary", **summary_part(current_user, request.args.get("view"), utcnow()))
    return render_page(HOME, **today_part(current_user, request.args.get("view"), utcnow()))


@bp.get("/home/month")
@login_required
def month():
    """"This month", asked for by the home page once it is shown; without htmx the whole page."""
    if is_fragment_request():
        return render_page(HOME, block="month", **month_part(current_user, request.args.get("view"), utcnow()))
    return render_page(HOME, **home_context(current_user, request.args.get("view"), utcnow(), with_month=True))
