"""Settings → Outbox: every e-mail the app has queued or sent, for admins."""

from __future__ import annotations

from flask import Blueprint, abort, flash, request, url_for

from leadflow.extensions import db
from leadflow.mail import queries
from leadflow.mail.models import OutboxMessage
from leadflow.mail.services import confirm_delivered, retry_all_failing, retry_now, smtp_configured
from leadflow.web.htmx import redirect_to, render_page
from leadflow.web.permissions import admin_required

bp = Blueprint("mail", __name__, url_prefix="/settings/outbox")


@bp.get("")
@admin_required
def index():
    context = queries.outbox_context(queries.OutboxFilters.from_args(request.args))
    return render_page("mail/outbox.html", block="results", **context)


@bp.get("/<int:message_id>")
@admin_required
def detail(message_id: int):
    return render_page("mail/message.html", **queries.message_context(_message_or_404(message_id)))


@bp.post("/<int:message_id>/retry")
@admin_required
def retry(message_id: int):
    message = _message_or_404(message_id)
    if retry_now(message):
        flash("The message will be sent within a few seconds." if smtp_configured()
              else "The message is kept here until a mail server is configured.", "success")
    else:
        flash("This message has already gone out or is being sent right now.", "info")
    return redirect_to(url_for("mail.detail", message_id=message.id))


@bp.post("/<int:message_id>/delivered")
@admin_required
def delivered(message_id: int):
    message = _message_or_404(message_id)
    if confirm_delivered(message):
        flash("The message is marked as sent.", "success")
    else:
        flash("Only a message that is not confirmed can be marked as delivered.", "info")
    return redirect_to(url_for("mail.detail", message_id=message.id))


@bp.post("/retry-failing")
@admin_required
def retry_failing():
    count = retry_all_failing()
    flash(f"{count} failing message{'s' if count != 1 else ''} will be tried again within a few seconds."
          if count else "No message is failing.", "success" if count else "info")
    return redirect_to(url_for("mail.index", state="failing" if count else None))


def _message_or_404(message_id: int) -> OutboxMessage:
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        abort(404)
    return message
