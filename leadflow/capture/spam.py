"""Defences of the public capture endpoints, which take posts from any site without a session.

- a signed, expiring form token carrying the form id and a random token id; its signing
  time enforces a minimum fill time (bots post at once), and its id lets a token be used
  for one accepted submission only (``services.record_token_use``);
- a honeypot field people never see or fill;
- a body size limit and strict decoding (UTF-8 only, JSON objects only);
- rate limits per IP and per form (Flask-Limiter, declared on the view).
"""

from __future__ import annotations

import enum
import json
import secrets
import time
from urllib.parse import parse_qsl

from flask import current_app, request
from typing import NamedTuple

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.exceptions import RequestEntityTooLarge

from leadflow.capture.services import HONEYPOT_FIELD

TOKEN_SALT = "leadflow.capture-form"
TOKEN_ID_BYTES = 12  # 16 characters of URL-safe base64
MAX_FIELDS = 200


class TokenCheck(enum.Enum):
    OK = "ok"
    TOO_FAST = "too_fast"
    EXPIRED = "expired"
    INVALID = "invalid"
    USED = "used"  # found when the submission is saved (``services.TokenAlreadyUsed``)


class CheckedToken(NamedTuple):
    check: TokenCheck
    token_id: str | None = None  # set when ``check`` is OK


class BadPayload(ValueError):
    """The body could not be read; ``str(error)`` says why, for the sender."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def issue_token(form_id: int) -> str:
    """A token for one rendering of the form: it records when the form was shown and
    carries a random id, so it is accepted for one submission only."""
    return _serializer().dumps({"f": form_id, "t": time.time(), "n": secrets.token_urlsafe(TOKEN_ID_BYTES)})


def check_token(form_id: int, token) -> CheckedToken:
    """Whether the signature, form, age and fill time are right. Whether the token was
    used before is found when the submission is saved (a check here could race)."""
    if not isinstance(token, str) or not token:
        return CheckedToken(TokenCheck.INVALID)
    try:
        payload = _serializer().loads(token, max_age=current_app.config["CAPTURE_TOKEN_MAX_AGE"])
    except SignatureExpired:
        return CheckedToken(TokenCheck.EXPIRED)
    except BadSignature:
        return CheckedToken(TokenCheck.INVALID)
    if (not isinstance(payload, dict) or payload.get("f") != form_id
            or not isinstance(payload.get("t"), (int, float))
            or not isinstance(payload.get("n"), str) or not 0 < len(payload["n"]) <= 32):
        return CheckedToken(TokenCheck.INVALID)
    if time.time() - payload["t"] < current_app.config["CAPTURE_MIN_FILL_SECONDS"]:
        return CheckedToken(TokenCheck.TOO_FAST)
    return CheckedToken(TokenCheck.OK, payload["n"])


def honeypot_filled(payload: dict) -> bool:
    value = payload.get(HONEYPOT_FIELD)
    return value not in (None, "", [], False)


def read_payload() -> dict:
    """The submitted fields as a dict (first value of each name for form posts).

    Raises RequestEntityTooLarge over ``CAPTURE_MAX_BODY_BYTES`` and BadPayload for bytes
    that are not UTF-8, JSON that is not an object, or too many fields.
    """
    limit = current_app.config["CAPTURE_MAX_BODY_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()
    request.max_content_length = limit  # also caps bodies sent without a length
    if request.mimetype == "multipart/form-data":
        fields = request.form
        if len(fields) > MAX_FIELDS:
            raise BadPayload("The form sent too many fields.")
        return {key: fields.get(key) for key in fields}
    raw = request.get_data(cache=True)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadPayload("The form data is not valid UTF-8 text. Send it encoded as UTF-8.") from exc
    if request.is_json:
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise BadPayload("The body is not valid JSON.") from exc
        if not isinstance(data, dict):
            raise BadPayload("Send a JSON object of field name → value.")
        return data
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict",
                          max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError as exc:
        raise BadPayload("The form data is not valid UTF-8 text. Send it encoded as UTF-8.") from exc
    except ValueError as exc:
        raise BadPayload("The form sent too many fields.") from exc
    data: dict = {}
    for key, value in pairs:
        data.setdefault(key, value)
    return data
