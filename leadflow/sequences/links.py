"""Signed links inside nurture e-mail: unsubscribe, open pixel, click redirect.

Each token is signed with the app's secret (itsdangerous) and a salt per purpose, so a token
made for one purpose never works for another and nobody can forge or alter one. A click
token carries the original address: the redirect goes only there, and only to http(s).

Unsubscribe tokens also carry the time they were made and stop working by themselves after
``UNSUBSCRIBE_LINK_MAX_AGE_DAYS`` (a year: far beyond the 30 days CAN-SPAM asks, so a person
reading an old e-mail can still leave); an expired one still names its lead, and the page then
asks the person to confirm their e-mail address instead. Tokens made before links carried a
time are honoured as before, so mail already sent keeps its one-click unsubscribe.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

from leadflow.db import utcnow
from leadflow.mail.services import absolute_url

_SALTS = {"unsubscribe": "leadflow.seq.unsubscribe", "open": "leadflow.seq.open", "click": "leadflow.seq.click"}


def _serializer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALTS[purpose])


# Purposes whose tokens carry the time they were made.
TIMED = frozenset({"unsubscribe"})


def _timed_serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALTS[purpose])


def make_token(purpose: str, payload: dict) -> str:
    return (_timed_serializer if purpose in TIMED else _serializer)(purpose).dumps(payload)


def read_unsubscribe_token(token: str) -> tuple[dict | None, bool]:
    """``(payload, expired)``: the payload of a genuine unsubscribe token (None for a tampered,
    foreign or malformed one), and whether it is older than ``UNSUBSCRIBE_LINK_MAX_AGE_DAYS``."""
    try:
        payload, made_at = _timed_serializer("unsubscribe").loads(token, return_timestamp=True)
    except BadSignature:
        return read_token("unsubscribe", token, timed=False), False  # made before links carried a time
    max_age = timedelta(days=current_app.config["UNSUBSCRIBE_LINK_MAX_AGE_DAYS"])
    return (payload if isinstance(payload, dict) else None), utcnow() - made_at > max_age


def read_token(purpose: str, token: str, *, timed: bool | None = None) -> dict | None:
    """The payload of a genuine token, or None for a tampered, foreign or malformed one
    (an unsubscribe token's age is ``read_unsubscribe_token``'s business)."""
    timed = purpose in TIMED if timed is None else timed
    try:
        payload = (_timed_serializer if timed else _serializer)(purpose).loads(token)
    except BadSignature:
        return None
    return payload if isinstance(payload, dict) else None


def is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in url)


def unsubscribe_url(lead_id: int) -> str:
    return absolute_url("mail_links.unsubscribe", token=make_token("unsubscribe", {"l": lead_id}))


def open_pixel_url(message_id: int) -> str:
    return absolute_url("mail_links.open_pixel", token=make_token("open", {"m": message_id}))


def click_url(message_id: int, url: str) -> str:
    return absolute_url("mail_links.click", token=make_token("click", {"m": message_id, "u": url}))
