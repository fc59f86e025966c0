"""Links inside sent e-mails: unsubscribe, open pixel, click redirect. No sign-in; signed tokens.

A token that is not genuine (tampered, made for another purpose, or naming a record that is
gone) is answered with 404, and the click redirect goes only to the http(s) address the
signed token itself carries, so these links can never be turned into an open redirect.
"""

from __future__ import annotations

import base64

from flask import Blueprint, abort, make_response, redirect, render_template, request

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads.fields import FieldError, normalise_email
from leadflow.leads.models import Lead
from leadflow.sequences.links import is_web_url, read_token, read_unsubscribe_token
from leadflow.sequences.services import record_event, unsubscribe_lead
from leadflow.sequences.models import SequenceMessage

bp = Blueprint("mail_links", __name__, url_prefix="/m")

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0", "Pragma": "no-cache",
            "X-Robots-Tag": "noindex"}


def _lead_for(token: str) -> tuple[Lead, bool]:
    """The lead a genuine unsubscribe token names, and whether the token has expired."""
    payload, expired = read_unsubscribe_token(token)
    lead = db.session.get(Lead, payload.get("l")) if payload and isinstance(payload.get("l"), int) else None
    if lead is None:
        abort(404)
    return lead, expired


def _unsubscribe_page(token: str, *, done=None, expired: bool = False, error: str | None = None, status: int = 200):
    response = make_response(render_template("sequences/unsubscribe.html", token=token, done=done, expired=expired,
                                             error=error), status)
    response.headers.update(NO_CACHE)
    return response


def _message_for(purpose: str, token: str) -> tuple[SequenceMessage, dict]:
    payload = read_token(purpose, token)
    message_id = payload.get("m") if payload else None
    message = db.session.get(SequenceMessage, message_id) if isinstance(message_id, int) else None
    if message is None:
        abort(404)
    return message, payload


def _email_key(raw: str) -> str | None:
    try:
        return normalise_email(raw)[1]
    except FieldError:
        return None


@bp.get("/u/<token>")
def unsubscribe(token: str):
    lead, expired = _lead_for(token)
    if expired and lead.unsubscribed_at is None:
        return _unsubscribe_page(token, expired=True, status=410)
    return _unsubscribe_page(token, done=lead.unsubscribed_at)


@bp.post("/u/<token>")
def confirm_unsubscribe(token: str):
    """The button on the confirm page, and RFC 8058 one-click (``List-Unsubscribe=One-Click``).
    An expired link unsubscribes only with the e-mail address it was sent to."""
    lead, expired = _lead_for(token)
    if expired and lead.unsubscribed_at is None:
        raw = request.form.get("email", "")
        if not raw.strip():
            return _unsubscribe_page(token, expired=True, status=410)
        if _email_key(raw) != lead.email_key:
            return _unsubscribe_page(token, expired=True, status=422, error=(
                "That is not the address this e-mail was sent to. Check it, or reply to the e-mail to be removed."))
    unsubscribe_lead(lead, via="link")
    return _unsubscribe_page(token, done=True)


@bp.get("/o/<token>.gif")
def open_pixel(token: str):
    message, _ = _message_for("open", token)
    if message.opened_at is None:
        now = utcnow()
        message.opened_at = now
        lead = db.session.get(Lead, message.lead_id)
        record_event(lead, "email_opened", f"Opened “{message.subject}”", now=now,
                     details={"message_id": message.id})
    response = make_response(PIXEL)
    response.headers.update(NO_CACHE)
    response.mimetype = "image/gif"
    return response


@bp.get("/c/<token>")
def click(token: str):
    message, payload = _message_for("click", token)
    url = payload.get("u")
    if not isinstance(url, str) or not is_web_url(url):
        abort(404)
    if message.clicked_at is None:
        now = utcnow()
        message.clicked_at = now
        lead = db.session.get(Lead, message.lead_id)
        record_event(lead, "email_clicked", f"Clicked a link in “{message.subject}”", now=now,
                     details={"message_id": message.id, "url": url[:2000]})
    response = redirect(url, code=302)
    response.headers.update(NO_CACHE)
    return response
