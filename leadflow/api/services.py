"""API tokens and idempotent replays. Services flush; the caller commits once.

A token reads ``lf_<prefix>_<secret>``. Only its SHA-256 is stored, with the prefix
(the part people see in lists, and the key it is looked up by). The plain token
exists once: in the return value of ``create_token``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, delete, or_, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import joinedload

from leadflow.accounts.models import User
from leadflow.api.http import forbidden_body
from leadflow.api.models import SCOPES, ApiToken, IdempotencyKey
from leadflow.db import begin_mode, is_retryable, sqlite_write_wait, utcnow
from leadflow.errors import NotFound, PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.governance.audit import record_event
from leadflow.leads.intake import input_errors, intake_lead
from leadflow.leads.policy import can_create_lead
from leadflow.leads.services import identity_errors
from leadflow.retry import replayable_commit
from leadflow.web import refcache

TOKEN_PREFIX = "lf_"
IDEMPOTENCY_TTL = timedelta(hours=24)
MAX_IDEMPOTENCY_KEY = 200
# Visible ASCII, with spaces only inside (the header's own leading and trailing spaces are dropped).
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most this often
LAST_USED_WAIT_MS = 50  # a read-only request's wait for SQLite's write lock to record it


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def parse_scopes(raw) -> list[str]:
    """``"read,write"`` or a list → the scopes, in a fixed order; ValidationFailed otherwise."""
    items = raw if isinstance(raw, (list, tuple)) else str(raw or "").split(",")
    scopes = {s.strip().lower() for s in items if str(s).strip()}
    unknown = sorted(scopes - set(SCOPES))
    if unknown:
        raise ValidationFailed({"scopes": [f"Unknown scope {', '.join(unknown)}. Use read, write or both."]})
    if not scopes:
        raise ValidationFailed({"scopes": ["Choose at least one scope: read, write."]})
    return [s for s in SCOPES if s in scopes]


def create_token(actor, *, user: User, name: str, scopes) -> tuple[ApiToken, str]:
    """Make a token acting as ``user``; returns (row, the plain token to show once)."""
    errors: dict[str, list[str]] = {}
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = ["Give the token a name, such as the program that will use it."]
    elif len(name) > 80:
        errors["name"] = ["Use at most 80 characters."]
    scope_list: list[str] = []
    try:
        scope_list = parse_scopes(scopes)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if user is None or not user.active:
        errors["user_id"] = ["Choose an active user for the token to act as."]
    elif "write" in scope_list and not user.can_write:
        # Such a token would only ever get 403 on writes: say so now, not when the program fails.
        errors["scopes"] = [f"{user.name} is a {user.role}, who may only read leads: leave out the write scope, "
                            "or choose someone who may edit leads."]
    if errors:
        raise ValidationFailed(errors)
    prefix = secrets.token_hex(4)
    plain = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken(name=name, user_id=user.id, scopes=",".join(scope_list), prefix=prefix,
                     token_hash=hash_token(plain), created_by_id=getattr(actor, "id", None))
    db.session.add(token)
    db.session.flush()
    record_event(actor, "api_token", token.id, "create", f"{name} ({prefix}) for {user.email}")
    return token, plain


def revoke_token(actor, token: ApiToken) -> bool:
    """Revoke at once; returns False when it already was."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    record_event(actor, "api_token", token.id, "delete", f"{token.name} ({token.prefix}) revoked")
    db.session.flush()
    return True


def get_token(token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("There is no such token.")
    return token


def list_tokens() -> list[ApiToken]:
    return list(db.session.scalars(
        db.select(ApiToken).options(joinedload(ApiToken.user))
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())
    ))


class AuthError(Exception):
    """Why a request's bearer token was refused; ``status`` is 401 or 403."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


def split_token(plain: str) -> str | None:
    """The prefix of a well-formed token, else None."""
    if not plain.startswith(TOKEN_PREFIX) or len(plain) > 200:
        return None
    prefix, sep, secret = plain[len(TOKEN_PREFIX):].partition("_")
    if not sep or not secret or len(prefix) != 8:
        return None
    return prefix


# The token and the user it acts as, in one statement (every request needs both), built once,
# with the reference versions: the request's reference data (settings, the default stage) is
# then checked without a query of its own (as the signed-in user's statement does for pages).
_TOKEN_BY_PREFIX = (db.select(ApiToken, refcache.versions_column()).options(joinedload(ApiToken.user))
                    .where(ApiToken.prefix == bindparam("prefix")))


def authenticate(header: str | None, scope: str) -> ApiToken:
    """The token of an ``Authorization: Bearer …`` header, checked for ``scope``.

    401 when the token is missing, unknown or revoked; 403 when it lacks the scope or its
    user is inactive. The stored hash is compared in constant time.
    """
    scheme, _, plain = (header or "").strip().partition(" ")
    plain = plain.strip()
    if scheme.lower() != "bearer" or not plain:
        raise AuthError(401, "Send an API token: Authorization: Bearer lf_…")
    prefix = split_token(plain)
    token = refcache.first_noting_versions(_TOKEN_BY_PREFIX, {"prefix": prefix}) if prefix else None
    # Hash even when there is no such token, so both paths take the same time.
    presented = hash_token(plain)
    stored = token.token_hash if token is not None else "0" * 64
    if token is None or not hmac.compare_digest(presented, stored):
        raise AuthError(401, "This API token is not valid.")
    if token.revoked_at is not None:
        raise AuthError(401, "This API token has been revoked.")
    if not token.user.active:
        raise AuthError(403, "The user this token acts as is deactivated.")
    if not token.has_scope(scope):
        raise AuthError(403, f"This token does not have the {scope} scope.")
    return token


def touch_token(token: ApiToken) -> None:
    """Record the use, at most once a minute, and commit it at once: before the request's own
    work, so a refused or failed request still shows that the token was used.

    A read-only request on SQLite holds a reader's transaction; the write then goes through a
    short transaction of its own, so the request never has to upgrade to a writer. That write
    waits at most ``LAST_USED_WAIT_MS`` for the write lock and is skipped if another writer
    holds it longer (a later request records the use): a reader is never refused, or kept
    waiting, for the sake of this record."""
    now = utcnow()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    if db.engine.dialect.name == "sqlite" and begin_mode.get() != "IMMEDIATE":
        _record_use_if_free(token.id, now)
        return
    token.last_used_at = now
    with replayable_commit():  # the request's own work may still run again on a busy database
        db.session.commit()


def _record_use_if_free(token_id: int, now) -> None:
    """SQLite: ``last_used_at = now`` in a transaction of its own, unless the write lock stays
    taken for ``LAST_USED_WAIT_MS``."""
    mode = begin_mode.set("IMMEDIATE")
    wait = sqlite_write_wait.set(LAST_USED_WAIT_MS / 1000)
    try:
        with db.engine.connect() as conn:
            sqlite = conn.connection.driver_connection  # the pragma outside SQLAlchemy's transaction
            sqlite.execute(f"PRAGMA busy_timeout = {LAST_USED_WAIT_MS}")
            try:
                with conn.begin():
                    conn.execute(update(ApiToken).where(
                        ApiToken.id == token_id,
                        or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - LAST_USED_RESOLUTION),
                    ).values(last_used_at=now))
            except OperationalError as error:
                if not is_retryable(error):
                    raise
            finally:
                sqlite.execute(f"PRAGMA busy_timeout = {int(current_app.config['SQLITE_BUSY_TIMEOUT_MS'])}")
    finally:
        sqlite_write_wait.reset(wait)
        begin_mode.reset(mode)


# --- idempotency -------------------------------------------------------------------------

def check_idempotency_key(key: str) -> str:
    key = key.strip()
    if len(key) > MAX_IDEMPOTENCY_KEY or not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
        raise ValidationFailed({"Idempotency-Key": [
            f"Use 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters, such as a UUID."]})
    return key


def request_fingerprint(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class IdempotencyConflict(Exception):
    """The key was used before with a different request body."""


def stored_response(token: ApiToken, key: str, fingerprint: str, now=None) -> IdempotencyKey | None:
    """The stored answer for this key, None when the key is new (or expired: then it is freed)."""
    row = db.session.scalar(db.select(IdempotencyKey).where(
        IdempotencyKey.token_id == token.id, IdempotencyKey.key == key))
    if row is None:
        return None
    if row.created_at <= (now or utcnow()) - IDEMPOTENCY_TTL:
        db.session.delete(row)
        db.session.flush()
        return None
    if not hmac.compare_digest(row.request_hash, fingerprint):
        raise IdempotencyConflict()
    return row


def store_response(token: ApiToken, key: str, fingerprint: str, status: int, body) -> bool:
    """Keep the answer under the key. False when a concurrent request with the same key won
    the race: the caller rolls back its own work and replays the winner's answer."""
    try:
        with db.session.begin_nested():
            db.session.add(IdempotencyKey(token_id=token.id, key=key, request_hash=fingerprint,
                                          response_status=status, response_body=body))
    except IntegrityError:
        return False
    return True


def expire_idempotency_keys(now) -> int:
    """Forget stored answers older than 24 hours (a retry after that is a new request)."""
    result = db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at <= now - IDEMPOTENCY_TTL))
    return result.rowcount or 0  # the scheduler's runner commits


def require_writer(user) -> None:
    if not can_create_lead(user):
        raise PermissionDenied("The user this token acts as cannot create or change leads.")


# --- leads through the API ----------------------------------------------------------------

MAX_BATCH = 100
API_FIELDS = ("first_name", "last_name", "email", "phone", "title", "organization", "country",
              "source", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
              "referrer", "landing_page", "value", "tags", "custom_fields", "marketing_consent",
              "consent_text")


def lead_json(lead) -> dict:
    """The lead as the API shows it (the ``Lead`` schema of the OpenAPI document)."""
    def iso(value):
        return value.isoformat() if value is not None else None

    return {
        "id": lead.id, "first_name": lead.first_name, "last_name": lead.last_name, "name": lead.name,
        "email": lead.email, "phone": lead.phone, "title": lead.title, "country": lead.country,
        "organization": lead.organization.name if lead.organization else None,
        "source": lead.source, "utm_source": lead.utm_source, "utm_medium": lead.utm_medium,
        "utm_campaign": lead.utm_campaign, "utm_term": lead.utm_term, "utm_content": lead.utm_content,
        "referrer": lead.referrer, "landing_page": lead.landing_page,
        "owner": {"id": lead.owner.id, "name": lead.owner.name} if lead.owner else None,
        "lifecycle": lead.lifecycle, "temperature": lead.temperature, "score": lead.score,
        "pipeline_id": lead.pipeline_id,
        "stage": {"id": lead.stage.id, "name": lead.stage.name} if lead.stage else None,
        "value": None if lead.value_cents is None else f"{lead.value:.2f}", "currency": lead.currency,
        "expected_close_date": iso(lead.expected_close_date),
        "marketing_consent": lead.marketing_consent, "consent_at": iso(lead.consent_at),
        "tags": [t.name for t in lead.tags], "custom_fields": lead.custom_fields or {},
        "created_at": iso(lead.created_at), "updated_at": iso(lead.updated_at), "version": lead.version,
    }


def _consent(data: dict, token: ApiToken) -> dict | None:
    if data.get("marketing_consent") is not True:
        return None
    return {"text": data.get("consent_text") or "", "source": f"API token “{token.name}” ({token.prefix})"}


def _given(value) -> bool:
    """Text that is not blank, or a value of another type (refused as such by its own check)."""
    return bool(value.strip()) if isinstance(value, str) else value is not None


def _check_api_fields(data) -> None:
    if not isinstance(data, dict):
        raise ValidationFailed({"lead": ["Send each lead as a JSON object of field → value."]})
    errors = {key[:64]: ["Unknown field. See the Lead schema in /api/v1/openapi.json."]
              for key in data if key not in API_FIELDS}
    consent = data.get("marketing_consent")
    if consent is not None and not isinstance(consent, bool):
        errors["marketing_consent"] = ["Send true or false."]
    text = data.get("consent_text")
    if text is not None and (not isinstance(text, str) or len(text) > 2000):
        errors["consent_text"] = ["Send the consent wording as text of at most 2000 characters."]
    # Every lead sent names who it is and how to reach them, also when its email matches a
    # lead that is then updated: the rule is in the OpenAPI document (LeadInput) as it is here.
    errors.update(identity_errors(*(_given(data.get(key)) for key in ("first_name", "last_name", "email", "phone"))))
    if errors:  # with what is wrong in the known fields too: one answer names every problem
        known = {k: v for k, v in data.items() if k in API_FIELDS}
        for key, messages in input_errors(known).items():
            errors.setdefault(key, messages)
        raise ValidationFailed(dict(list(errors.items())[:50]))


def intake_one(token: ApiToken, data) -> tuple[str, object]:
    """Create or update one lead as the token's user: ("created" | "updated", lead)."""
    _check_api_fields(data)
    result = intake_lead(
        {k: v for k, v in data.items() if k not in ("marketing_consent", "consent_text")},
        channel="api", actor=token.user, defaults={"source": "api"},
        activity_kind="system", activity_subject="Lead received through the API",
        activity_details={"token": token.prefix}, consent=_consent(data, token),
    )
    return ("created" if result.created else "updated"), result.lead


def batch_items(payload) -> list | None:
    """The list of leads in a batch body, or None for a single lead. ValueError when malformed."""
    if isinstance(payload, list):
        items = payload
    elif isinstance(payload, dict) and set(payload) == {"leads"}:
        items = payload["leads"]
        if not isinstance(items, list):
            raise ValueError("\"leads\" must be a list of lead objects.")
    elif isinstance(payload, dict):
        return None
    else:
        raise ValueError("Send a lead object, a list of lead objects, or {\"leads\": [...]}.")
    if not items:
        raise ValueError("The batch is empty.")
    return items


def intake_batch(token: ApiToken, items: list) -> dict:
    """Each item in a savepoint of its own: a refused item (invalid, or the email of a lead the
    token's user may not change) never costs the others, and leaves nothing behind."""
    results, counts = [], {"created": 0, "updated": 0, "failed": 0}
    for index, item in enumerate(items):
        try:
            with db.session.begin_nested():
                status, lead = intake_one(token, item)
        except ValidationFailed as exc:
            results.append({"index": index, "status": "invalid", "errors": exc.errors})
            counts["failed"] += 1
            continue
        except PermissionDenied as exc:
            body = forbidden_body(exc)
            results.append({"index": index, "status": "forbidden", "message": body["message"],
                            "lead_id": body.get("lead_id")})
            counts["failed"] += 1
            continue
        results.append({"index": index, "status": status, "id": lead.id})
        counts[status] += 1
    return {"results": results, **counts}


def register_sweeps(add) -> None:
    """This area's periodic work, for the scheduler (``leadflow.wiring.schedule``)."""
    add("idempotency-keys", every_seconds=3600, func=expire_idempotency_keys)
