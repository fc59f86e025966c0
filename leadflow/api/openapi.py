"""The OpenAPI 3.1 description of /api/v1, written by hand so it says what we mean."""

from __future__ import annotations

from leadflow.api.services import API_FIELDS, IDEMPOTENCY_KEY_PATTERN, MAX_BATCH, MAX_IDEMPOTENCY_KEY
from leadflow.leads.models import SOURCES
from leadflow.leads.services import TEXT_LIMITS

_nullable_text = {"type": ["string", "null"]}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error_response(description: str, headers: dict | None = None) -> dict:
    response = {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}
    if headers:
        response["headers"] = headers
    return response


# What each error status means, whichever operation answers it. Each operation lists the
# ones it can give (``_errors``), with its own wording where it has more to say.
ERROR_MEANINGS = {
    "400": "A query parameter or the body was refused before reading any lead: not JSON, not UTF-8, "
           "text with a NUL character or an unpaired surrogate, the wrong top-level type, a parameter given empty, a cursor this API did not give out, or an "
           "unusable Idempotency-Key. `errors` names each parameter.",
    "401": "No token, an unknown token or a revoked token.",
    "403": "The token lacks the scope, or its user is deactivated or may not do this.",
    "404": "Nothing at this address.",
    "405": "This path does not take that method; the `Allow` header lists the ones it does.",
    "409": "Other requests changed the same lead at the same moment, again and again, so nothing was saved; "
           "send it again.",
    "413": f"The body is too large, or the batch has more than {MAX_BATCH} leads.",
    "415": "The body is not sent as application/json.",
    "422": "Fields were refused (see errors), or the Idempotency-Key was used with another body.",
    "429": "Too many requests with this token, or too many with invalid tokens from this address; wait the "
           "seconds in Retry-After.",
}
ERROR_HEADERS = {
    "401": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer realm=\"LeadFlow API\""}},
    "405": {"Allow": {"schema": {"type": "string"}, "required": True,
                      "description": "The methods this path takes, e.g. `GET, HEAD, OPTIONS, POST`."}},
}


def _errors(*codes: str, **wording: str) -> dict:
    """Error responses for ``codes``; ``wording`` (e.g. ``e404="..."``) overrides a description."""
    return {code: _error_response(wording.get(f"e{code}", ERROR_MEANINGS[code]), ERROR_HEADERS.get(code))
            for code in codes}


def _text(name: str, **extra) -> dict:
    schema = {"type": ["string", "null"], **extra}
    if name in TEXT_LIMITS:
        schema["maxLength"] = TEXT_LIMITS[name]
    return schema


_NOT_BLANK = {"type": "string", "pattern": "\\S"}

LEAD_INPUT = {
    "type": "object",
    "description": "A lead to create. When a live lead has the same email it is updated instead "
                   "(contact fields replaced, first-touch attribution kept, tags added). Every lead "
                   "sent, new or matched, needs a name (`first_name` or `last_name`, not blank) and a "
                   "way to reach it (`email` or `phone`, not blank); otherwise it is refused (422).",
    "additionalProperties": False,
    "properties": {
        **{name: _text(name) for name in API_FIELDS
           if name not in ("value", "tags", "custom_fields", "marketing_consent", "consent_text")},
        "email": _text("email", format="email"),
        "phone": _text("phone", maxLength=40, description="Any common format; stored in E.164."),
        "country": _text("country", pattern="^[A-Za-z]{0,2}$", description="Two-letter code, used to read phone numbers."),
        "organization": _text("organization", maxLength=200),
        "source": {"type": ["string", "null"], "enum": [*SOURCES, "", None],
                   "description": "Where the lead came from; empty or left out: `api`."},
        "value": {"type": ["string", "number", "null"], "description": "Deal value, e.g. 12500 or \"12,500.50\"."},
        "tags": {"oneOf": [{"type": "array", "items": {"type": "string", "maxLength": 40}, "maxItems": 20},
                           {"type": "string", "description": "Comma-separated"}, {"type": "null"}]},
        "custom_fields": {"type": ["object", "null"], "maxProperties": 50,
                          "description": "Extra fields by name (shown on the lead page under \"More details\", "
                                         "searched and exported). For a lead that exists already the names "
                                         "sent are set and the others kept; a name sent as null or \"\" is "
                                         "left as it is, not removed: people remove a field on the lead page.",
                          "propertyNames": {"minLength": 1, "maxLength": 64},
                          "additionalProperties": {"type": ["string", "number", "boolean", "null"], "maxLength": 2000}},
        "marketing_consent": {"type": ["boolean", "null"], "description": "true records consent, with consent_text."},
        "consent_text": {"type": ["string", "null"], "maxLength": 2000},
    },
    "allOf": [
        {"anyOf": [{"required": ["first_name"], "properties": {"first_name": _NOT_BLANK}},
                   {"required": ["last_name"], "properties": {"last_name": _NOT_BLANK}}]},
        {"anyOf": [{"required": ["email"], "properties": {"email": _NOT_BLANK}},
                   {"required": ["phone"], "properties": {"phone": _NOT_BLANK}}]},
    ],
}

LEAD = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "first_name": {"type": "string"}, "last_name": {"type": "string"},
        "name": {"type": "string"}, "email": _nullable_text, "phone": _nullable_text, "title": _nullable_text,
        "country": _nullable_text, "organization": _nullable_text, "source": _nullable_text,
        "utm_source": _nullable_text, "utm_medium": _nullable_text, "utm_campaign": _nullable_text,
        "utm_term": _nullable_text, "utm_content": _nullable_text, "referrer": _nullable_text,
        "landing_page": _nullable_text,
        "owner": {"type": ["object", "null"], "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
        "lifecycle": {"type": "string"}, "temperature": {"type": "string", "enum": ["cold", "warm", "hot"]},
        "score": {"type": "integer"}, "pipeline_id": {"type": ["integer", "null"]},
        "stage": {"type": ["object", "null"], "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
        "value": {"type": ["string", "null"], "description": "Decimal with two places"},
        "currency": {"type": "string"}, "expected_close_date": {"type": ["string", "null"], "format": "date"},
        "marketing_consent": {"type": "boolean"},
        "consent_at": {"type": ["string", "null"], "format": "date-time"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "custom_fields": {"type": "object"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "version": {"type": "integer"},
    },
    "required": ["id", "name", "created_at", "updated_at"],
}

ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "Short title of the status"},
        "message": {"type": "string", "description": "What went wrong and what to do, in words"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                   "description": "Per field: the messages about it"},
        "lead_id": {"type": "integer", "description": "The lead refused (403: the email is that of a lead "
                                                      "the token's user may not change)"},
    },
    "required": ["error", "message"],
}

CURSOR = {"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "minLength": 1, "maxLength": 40}

IDEMPOTENCY_RULES = (
    "Send an `Idempotency-Key` header to make retries safe. Keys belong to the token. The first "
    "request with a key is answered and its answer kept for 24 hours, whatever it was (created, "
    "updated, a batch result, or 422 refused fields). A request with the same key and the same body "
    "(byte for byte) within that time gets that answer again, with `Idempotent-Replayed: true`, and "
    "nothing is written. The same key with another body is refused (422); after 24 hours the key is free."
)
LOCATION = {"Location": {"schema": {"type": "string"}, "description": "The new lead's address"}}
REPLAYED = {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]},
                                    "description": "Present when this is the stored answer to an earlier "
                                                   "request with the same Idempotency-Key"}}

BATCH_RESULT = {
    "type": "object",
    "properties": {
        "results": {"type": "array", "items": {
            "type": "object",
            "properties": {
                "index": {"type": "integer"},
                "status": {"type": "string", "enum": ["created", "updated", "invalid", "forbidden"]},
                "id": {"type": "integer"},
                "lead_id": {"type": "integer", "description": "forbidden: the existing lead with that email, "
                                                              "which the token's user may not change"},
                "message": {"type": "string"},
                "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            },
            "required": ["index", "status"],
        }},
        "created": {"type": "integer"}, "updated": {"type": "integer"}, "failed": {"type": "integer"},
    },
    "required": ["results", "created", "updated", "failed"],
}


def openapi_document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "LeadFlow API", "version": "1",
            "description": "Send leads in and read them out. Authenticate with a token from "
                           "Settings → API tokens (or `flask leadflow create-token`): "
                           "`Authorization: Bearer lf_…`. The token acts as its user, with that "
                           "user's permissions, within its scopes (read, write).",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/openapi.json": {"get": {
                "summary": "This document", "operationId": "getOpenApi", "security": [],
                "responses": {"200": {"description": "The OpenAPI document", "content": {"application/json": {}}},
                              **_errors("405", "429")},
            }},
            "/leads": {
                "get": {
                    "summary": "List live leads, oldest first", "operationId": "listLeads",
                    "description": "Needs the read scope. Page with `limit` and the `next_cursor` of the previous "
                                   "page. A parameter given with an empty value is refused (400); leave it out "
                                   "instead.",
                    "parameters": [
                        {"name": "limit", "in": "query",
                         "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
                        {"name": "cursor", "in": "query", "schema": CURSOR,
                         "description": "Opaque: the `next_cursor` of the previous page, exactly as given. "
                                        "Any other value is refused (400)."},
                        {"name": "email", "in": "query", "schema": _NOT_BLANK,
                         "description": "Only leads with this email (any case)"},
                        {"name": "updated_since", "in": "query", "schema": {**_NOT_BLANK, "format": "date-time"},
                         "description": "Only leads changed at or after this moment: an ISO 8601 date-time "
                                        "such as `2026-01-31T09:00:00Z` (without an offset it is read as UTC; "
                                        "a date alone means its midnight)."},
                    ],
                    "responses": {
                        "200": {"description": "A page of leads", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["data", "next_cursor"], "properties": {
                                "data": {"type": "array", "items": _ref("Lead")},
                                "next_cursor": {"oneOf": [CURSOR, {"type": "null"}],
                                                "description": "null on the last page"}}}}}},
                        **_errors("400", "401", "403", "405", "429"),
                    },
                },
                "post": {
                    "summary": "Create or update leads", "operationId": "createLeads",
                    "description": f"Needs the write scope. One lead object, or a batch of at most {MAX_BATCH}: "
                                   "a JSON array or `{\"leads\": [...]}`. In a batch each item succeeds or fails "
                                   "on its own.\n\n" + IDEMPOTENCY_RULES,
                    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY,
                                               "pattern": IDEMPOTENCY_KEY_PATTERN},
                                    "description": f"Optional. 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII "
                                                   "characters (spaces only inside), such as a UUID; other "
                                                   "values are refused (400)."}],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                        _ref("LeadInput"),
                        {"type": "array", "items": _ref("LeadInput"), "minItems": 1, "maxItems": MAX_BATCH},
                        {"type": "object", "properties": {"leads": {"type": "array", "items": _ref("LeadInput"),
                                                                    "minItems": 1, "maxItems": MAX_BATCH}},
                         "required": ["leads"], "additionalProperties": False},
                    ]}}}},
                    "responses": {
                        "201": {"description": "Created (single lead)", "headers": {**LOCATION, **REPLAYED},
                                "content": {"application/json": {"schema": _ref("Lead")}}},
                        "200": {"description": "A lead with the same email was updated (single lead), or the "
                                               "per-item results of a batch", "headers": REPLAYED,
                                "content": {"application/json": {"schema": {"oneOf": [_ref("Lead"), _ref("BatchResult")]}}}},
                        **_errors("400", "401", "403", "405", "409", "413", "415", "422", "429",
                                  e403="The token lacks the write scope or its user may not create leads; or "
                                       "the email is that of a lead the user may not change (lead_id "
                                       "names it; nothing is saved)."),
                    },
                },
            },
            "/leads/{lead_id}": {"get": {
                "summary": "One live lead", "operationId": "getLead",
                "description": "Needs the read scope.",
                "parameters": [{"name": "lead_id", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 0}}],
                "responses": {
                    "200": {"description": "The lead", "content": {"application/json": {"schema": _ref("Lead")}}},
                    **_errors("401", "403", "404", "405", "429", e404="No such lead, or it is in the trash."),
                },
            }},
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "A LeadFlow API token: lf_ followed by its secret."}},
            "schemas": {"Lead": LEAD, "LeadInput": LEAD_INPUT, "Error": ERROR, "BatchResult": BATCH_RESULT},
        },
    }
