"""Signed links inside nurture e-mail: unsubscribe, open pixel, click redirect.

Each token is signed with the app's secret (itsdangerous) and a salt per purpose, so a token
made for one purpose never works for another and nobody can forge or alter one. A click
token carries the original address: the redirect goes only there, and only to http(s).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from leadflow.mail.services import absolute_url

_SALTS = {"unsubscribe": "leadflow.seq.unsubscribe", "open": "leadflow.seq.open", "click": "leadflow.seq.click"}


def _serializer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALTS[purpose])


def make_token(purpose: str, payload: dict) -> str:
    return _serializer(purpose).dumps(payload)


def read_token(purpose: str, token: str) -> dict | None:
    """The payload of a genuine token, or None for a tampered, foreign or malformed one."""
    try:
        payload = _serializer(purpose).loads(token)
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
