"""The OpenAPI 3.1 description of /api/v1, written by hand so it says what we mean."""

from __future__ import annotations

from leadflow.api.services import API_FIELDS, MAX_BATCH

_nullable_text = {"type": ["string", "null"]}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


ERRORS = {
    "400": _error_response("The body or a query parameter is malformed (not JSON, not UTF-8, wrong top-level type)."),
    "401": _error_response("No token, an unknown token or a revoked token."),
    "403": _error_response("The token lacks the scope, or its user is deactivated or may not do this."),
    "429": _error_response("Too many requests with this token; wait and retry."),
}

LEAD_INPUT = {
    "type": "object",
    "description": "A lead to create. When a live lead has the same email it is updated instead "
                   "(contact fields replaced, first-touch attribution kept, tags added).",
    "additionalProperties": False,
    "properties": {
        **{name: {"type": ["string", "null"]} for name in API_FIELDS
           if name not in ("value", "tags", "custom_fields", "marketing_consent")},
        "email": {"type": ["string", "null"], "format": "email"},
        "phone": {"type": ["string", "null"], "description": "Any common format; stored in E.164."},
        "country": {"type": ["string", "null"], "description": "Two-letter code, used to read phone numbers."},
        "value": {"type": ["string", "number", "null"], "description": "Deal value, e.g. 12500 or \"12,500.50\"."},
        "tags": {"oneOf": [{"type": "array", "items": {"type": "string", "maxLength": 40}, "maxItems": 20},
                           {"type": "string", "description": "Comma-separated"}]},
        "custom_fields": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
        "marketing_consent": {"type": "boolean", "description": "true records consent, with consent_text."},
        "consent_text": {"type": "string", "maxLength": 2000},
    },
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
                "responses": {"200": {"description": "The OpenAPI document", "content": {"application/json": {}}}},
            }},
            "/leads": {
                "get": {
                    "summary": "List live leads, oldest first", "operationId": "listLeads",
                    "description": "Needs the read scope. Page with `limit` and the `next_cursor` of the previous page.",
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor from the previous page"},
                        {"name": "email", "in": "query", "schema": {"type": "string"}, "description": "Only leads with this email (any case)"},
                        {"name": "updated_since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                    ],
                    "responses": {
                        "200": {"description": "A page of leads", "content": {"application/json": {"schema": {
                            "type": "object", "properties": {
                                "data": {"type": "array", "items": _ref("Lead")},
                                "next_cursor": {"type": ["string", "null"]}}}}}},
                        **ERRORS,
                    },
                },
                "post": {
                    "summary": "Create or update leads", "operationId": "createLeads",
                    "description": f"Needs the write scope. One lead object, or a batch of at most {MAX_BATCH}: "
                                   "a JSON array or `{\"leads\": [...]}`. In a batch each item succeeds or fails "
                                   "on its own. Send an `Idempotency-Key` header (up to 200 characters) to make "
                                   "retries safe: the same key with the same body gets the first answer again "
                                   "for 24 hours; with another body it is refused (422).",
                    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                    "schema": {"type": "string", "maxLength": 200}}],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                        _ref("LeadInput"),
                        {"type": "array", "items": _ref("LeadInput"), "minItems": 1, "maxItems": MAX_BATCH},
                        {"type": "object", "properties": {"leads": {"type": "array", "items": _ref("LeadInput"),
                                                                    "minItems": 1, "maxItems": MAX_BATCH}},
                         "required": ["leads"]},
                    ]}}}},
                    "responses": {
                        "201": {"description": "Created (single lead)", "content": {"application/json": {"schema": _ref("Lead")}}},
                        "200": {"description": "A lead with the same email was updated (single lead), or the "
                                               "per-item results of a batch",
                                "content": {"application/json": {"schema": {"oneOf": [_ref("Lead"), _ref("BatchResult")]}}}},
                        **ERRORS,
                        "413": _error_response(f"The body is too large, or the batch has more than {MAX_BATCH} leads."),
                        "415": _error_response("The body is not sent as application/json."),
                        "403": _error_response("The token lacks the write scope or its user may not create leads; or "
                                               "the email is that of a lead the user may not change (lead_id "
                                               "names it; nothing is saved)."),
                        "422": _error_response("Fields were refused (see errors), or the Idempotency-Key was used with another body."),
                    },
                },
            },
            "/leads/{lead_id}": {"get": {
                "summary": "One live lead", "operationId": "getLead",
                "parameters": [{"name": "lead_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {
                    "200": {"description": "The lead", "content": {"application/json": {"schema": _ref("Lead")}}},
                    "404": _error_response("No such lead, or it is in the trash."),
                    **ERRORS,
                },
            }},
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "A LeadFlow API token: lf_ followed by its secret."}},
            "schemas": {"Lead": LEAD, "LeadInput": LEAD_INPUT, "Error": ERROR, "BatchResult": BATCH_RESULT},
        },
    }
