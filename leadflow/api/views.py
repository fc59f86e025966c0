"""The REST API under /api/v1: bearer tokens, JSON in and out, no session CSRF.

Every answer is JSON, errors included: ``{"error", "message", "errors"?}``.
"""
from __future__ import annotations

import base64
import binascii
import re
from contextlib import nullcontext
from datetime import datetime, timezone

from flask import Blueprint, current_app, g, jsonify, request, url_for
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from leadflow.api import services
from leadflow.api.auth import rate_limit_key, token_required
from leadflow.api.http import ApiError, forbidden_body, json_error, read_json_body
from leadflow.api.openapi import openapi_document
from leadflow.db import parse_id
from leadflow.errors import NotFound, PermissionDenied, ValidationFailed, VersionConflict
from leadflow.extensions import db, limiter
from leadflow.leads.fields import FieldError, normalise_email
from leadflow.leads.models import Lead
from leadflow.retry import CONFLICT_MESSAGE, save_refusal

bp = Blueprint("api", __name__, url_prefix="/api/v1")
limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=rate_limit_key)(bp)

DEFAULT_LIMIT, MAX_LIMIT = 50, 100


@bp.errorhandler(ApiError)
def api_error(error: ApiError):
    return json_error(error.status, error.message, error.errors)


@bp.errorhandler(ValidationFailed)
def validation_failed(error: ValidationFailed):
    return json_error(422, "Some fields were refused; see errors.", error.errors)


@bp.errorhandler(PermissionDenied)
def permission_denied(error: PermissionDenied):
    return _respond(403, forbidden_body(error))


@bp.errorhandler(NotFound)
def not_found(error: NotFound):
    return json_error(404, str(error) or "There is nothing at this address.")


@bp.errorhandler(StaleDataError)
@bp.errorhandler(VersionConflict)
def version_conflict(error):
    return json_error(409, CONFLICT_MESSAGE)


@bp.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


def _lead_query():
    return db.select(Lead).options(joinedload(Lead.owner), joinedload(Lead.organization),
                                   joinedload(Lead.stage), selectinload(Lead.tags))


def _load_lead(lead_id: int) -> Lead:
    query = _lead_query().where(Lead.id == lead_id, Lead.deleted_at.is_(None))
    lead = db.session.scalar(query)  # the id converter keeps lead_id within the id column
    if lead is None:
        raise ApiError(404, f"There is no lead {lead_id} (or it is in the trash).")
    return lead


CURSOR_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,40}")


def _cursor(value: str | None) -> int:
    """The lead id a cursor stands for. Only a cursor this API gave out (``_make_cursor``) is taken."""
    if value is None:
        return 0
    try:
        if not CURSOR_PATTERN.fullmatch(value):
            raise ValueError
        lead_id = parse_id(base64.urlsafe_b64decode(value.encode("ascii") + b"==").decode("ascii"))
        if lead_id is None or _make_cursor(lead_id) != value:
            raise ValueError
        return lead_id
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise ApiError(400, "The cursor is not one this API gave out.", {"cursor": ["Use next_cursor as given."]}) from exc


def _make_cursor(lead_id: int) -> str:
    return base64.urlsafe_b64encode(str(lead_id).encode()).decode().rstrip("=")


LIST_PARAMETERS = ("limit", "cursor", "email", "updated_since")


def _list_params(args) -> dict:
    errors: dict[str, list[str]] = {}
    for name in LIST_PARAMETERS:  # given but blank is a mistake, never "no filter"
        if name in args and not args.get(name, "").strip():
            errors[name] = ["Give a value, or leave the parameter out."]
    params = {"limit": DEFAULT_LIMIT, "after": 0, "email_key": None, "since": None}
    if "cursor" not in errors:
        try:
            params["after"] = _cursor(args.get("cursor"))
        except ApiError as exc:
            errors.update(exc.errors)
    if "limit" not in errors:
        try:
            params["limit"] = int(args.get("limit", DEFAULT_LIMIT))
            if not 1 <= params["limit"] <= MAX_LIMIT:
                raise ValueError
        except ValueError:
            errors["limit"] = [f"Use a whole number from 1 to {MAX_LIMIT}."]
    if args.get("email", "").strip():
        try:
            params["email_key"] = normalise_email(args["email"])[1]
        except FieldError as exc:
            errors["email"] = [str(exc)]
    if args.get("updated_since", "").strip():
        try:
            since = datetime.fromisoformat(args["updated_since"].strip())
            since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
            params["since"] = since.astimezone(timezone.utc)
        except (ValueError, OverflowError):
            errors["updated_since"] = ["Use an ISO 8601 date-time such as 2026-01-31T09:00:00Z."]
    if errors:
        raise ApiError(400, "Some query parameters were refused; see errors.", errors)
    return params


@bp.get("/leads")
@token_required("read")
def list_leads():
    params = _list_params(request.args)
    query = _lead_query().where(Lead.deleted_at.is_(None), Lead.id > params["after"])
    if params["email_key"]:
        query = query.where(Lead.email_key == params["email_key"])
    if params["since"]:
        query = query.where(Lead.updated_at >= params["since"])
    leads = list(db.session.scalars(query.order_by(Lead.id).limit(params["limit"] + 1)).unique())
    more = len(leads) > params["limit"]
    leads = leads[:params["limit"]]
    next_cursor = _make_cursor(leads[-1].id) if more else None
    return jsonify(data=[services.lead_json(lead) for lead in leads], next_cursor=next_cursor)


@bp.get("/leads/<int:lead_id>")
@token_required("read")
def get_lead(lead_id: int):
    return jsonify(services.lead_json(_load_lead(lead_id)))


def _respond(status: int, body, replayed: bool = False):
    response = jsonify(body)
    response.status_code = status
    if status == 201 and isinstance(body, dict) and "id" in body:
        response.headers["Location"] = url_for("api.get_lead", lead_id=body["id"])
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _replay(row):
    return _respond(row.response_status, row.response_body, replayed=True)


@bp.post("/leads")
@token_required("write")
def create_leads():
    token = g.api_token
    services.require_writer(g.api_user)
    payload, raw = read_json_body()
    try:
        items = services.batch_items(payload)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
    if items is not None and len(items) > services.MAX_BATCH:
        raise ApiError(413, f"A batch holds at most {services.MAX_BATCH} leads; this one has {len(items)}.")
    key = request.headers.get("Idempotency-Key")
    fingerprint = services.request_fingerprint(raw)
    if key is not None:
        try:
            key = services.check_idempotency_key(key)
        except ValidationFailed as exc:
            raise ApiError(400, "The Idempotency-Key header is not usable.", exc.errors) from exc
        try:
            stored = services.stored_response(token, key, fingerprint)
        except services.IdempotencyConflict:
            return json_error(422, "This Idempotency-Key was already used with a different request body. "
                                   "Use a new key for a new request.",
                              {"Idempotency-Key": ["Already used with a different body."]})
        if stored is not None:
            return _replay(stored)

    status, body = _intake(token, items, payload, keyed=key is not None)
    if key is not None and not services.store_response(token, key, fingerprint, status, body):
        # A concurrent request with the same key stored its answer first: give that one.
        db.session.rollback()
        return _replay(services.stored_response(token, key, fingerprint))
    if key is not None:
        save_refusal()  # a refused lead's answer is kept under its key as well
    return _respond(status, body)


def _intake(token, items, payload, *, keyed: bool) -> tuple[int, dict]:
    if items is not None:
        return 200, services.intake_batch(token, items)
    try:
        # A refusal rolls the request back; under an Idempotency-Key its answer is kept
        # (``save_refusal``), so only then must the lead's own writes sit in a savepoint.
        with db.session.begin_nested() if keyed else nullcontext():
            outcome, lead = services.intake_one(token, payload)
    except ValidationFailed as exc:
        return 422, {"error": "Validation failed", "message": "Some fields were refused; see errors.",
                     "errors": exc.errors}
    except PermissionDenied as exc:  # the email is that of a lead this token's user may not change
        return 403, forbidden_body(exc)
    return (201 if outcome == "created" else 200), services.lead_json(lead)
