"""JSON in and out for the API: error bodies, reading a request body defensively."""

from __future__ import annotations

import json

from flask import current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

STATUS_TITLES = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 413: "Too large", 415: "Unsupported media type",
    422: "Validation failed", 429: "Too many requests", 500: "Server error",
}


class ApiError(Exception):
    """A request the API refuses; becomes the JSON error body."""

    def __init__(self, status: int, message: str, errors: dict | None = None):
        self.status, self.message, self.errors = status, message, errors
        super().__init__(message)


def error_body(status: int, message: str, errors: dict | None = None, **extra) -> dict:
    """``{"error": <status title>, "message", "errors"?, …extra}``: every error the API sends."""
    body = {"error": STATUS_TITLES.get(status, "Error"), "message": message}
    if errors:
        body["errors"] = errors
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def forbidden_body(error) -> dict:
    """A refused PermissionDenied; names the lead (``lead_id``) when one lead was refused."""
    return error_body(403, str(error), lead_id=getattr(error, "lead_id", None))


def json_error(status: int, message: str, errors: dict | None = None, **extra):
    response = jsonify(error_body(status, message, errors, **extra))
    response.status_code = status
    return response


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def read_json_body() -> tuple[object, bytes]:
    """(parsed JSON, the raw bytes) of the request, or ApiError 400/413/415."""
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise ApiError(415, "Send the body as JSON with Content-Type: application/json.")
    limit = current_app.config["API_MAX_BODY_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"The body is larger than {limit:,} bytes. Send fewer leads per request.")
    try:
        # Kept on the request (length checked above; MAX_CONTENT_LENGTH bounds a body sent
        # without one): a view run again on a busy database reads the same body again.
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge as exc:
        raise ApiError(413, f"The body is larger than {limit:,} bytes.") from exc
    if len(raw) > limit:
        raise ApiError(413, f"The body is larger than {limit:,} bytes. Send fewer leads per request.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"The body is not valid UTF-8 (bad byte at position {exc.start}).") from exc
    if not text.strip():
        raise ApiError(400, "The body is empty. Send a lead object, a list of them, or {\"leads\": [...]}.")
    try:
        payload = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ApiError(400, "The JSON is nested too deeply.") from exc
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, integers with too many digits
        raise ApiError(400, f"The body is not valid JSON: {str(exc)[:200]}") from exc
    if not _storable(payload):
        raise ApiError(400, "The body has text no database can store: a NUL character (\\u0000) or an "
                            "unpaired surrogate (\\ud800–\\udfff). Remove it and send again.")
    return payload, raw


def _storable(payload) -> bool:
    """No string anywhere in ``payload`` (keys included) holds NUL or a lone surrogate."""
    stack = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                return False
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True
