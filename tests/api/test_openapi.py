"""The OpenAPI document says what the API does: every route and method, every status an
operation can answer, and the rules for query parameters, cursors, the Idempotency-Key
header and lead bodies, each checked against the API itself."""

from __future__ import annotations

import json
import re

import pytest

from leadflow.api.services import check_idempotency_key
from leadflow.errors import ValidationFailed
from leadflow.extensions import db

ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture
def doc(client):
    return client.get("/api/v1/openapi.json").json


def _doc_path(rule) -> str:
    path = rule.rule[len("/api/v1"):]
    for arg in rule.arguments:
        path = path.replace(f"<int:{arg}>", f"{{{arg}}}").replace(f"<{arg}>", f"{{{arg}}}")
    return path


def _api_routes(app) -> dict[str, set[str]]:
    """Doc path → the methods the app serves there (HEAD and OPTIONS come with GET)."""
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            routes.setdefault(_doc_path(rule), set()).update(rule.methods)
    return routes


def _parameter(doc, path, method, name) -> dict:
    return next(p for p in doc["paths"][path][method]["parameters"] if p["name"] == name)


# --- the document against the app's routes --------------------------------------------------

def test_every_documented_operation_is_served_and_every_route_is_documented(app, doc):
    routes = _api_routes(app)
    documented = {(path, method.upper()) for path, item in doc["paths"].items() for method in item}
    served = {(path, method) for path, methods in routes.items() for method in methods - {"HEAD", "OPTIONS"}}
    assert documented == served


def test_every_operation_documents_each_error_it_can_answer_with_the_error_schema(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            expected = {"405", "429"}
            if operation.get("security") != []:
                expected |= {"401", "403"}
            if operation.get("parameters"):
                expected |= {"400"} if any(p["in"] in ("query", "header") for p in operation["parameters"]) else {"404"}
            if "requestBody" in operation:
                expected |= {"400", "413", "415", "422"}
            assert expected <= set(responses), f"{method.upper()} {path} lacks {expected - set(responses)}"
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    assert response["content"]["application/json"]["schema"] == ERROR_REF, (method, path, status)
            assert responses["405"]["headers"]["Allow"]["required"] is True


# --- (e) 405 names the methods the path takes -------------------------------------------------

def test_every_405_from_the_api_carries_allow_and_a_json_error(app, client):
    for path, methods in _api_routes(app).items():
        url = "/api/v1" + path.replace("{lead_id}", "1")
        wrong = next(m for m in ("DELETE", "PUT", "PATCH", "POST") if m not in methods)
        response = client.open(url, method=wrong)
        assert response.status_code == 405, url
        assert set(response.headers["Allow"].split(", ")) == methods, url
        assert response.is_json and response.json["error"] == "Method not allowed" and response.json["message"]


# --- (a) query parameters given empty are refused --------------------------------------------

@pytest.mark.parametrize("name", ["updated_since", "cursor", "email", "limit"])
def test_a_list_parameter_given_empty_is_refused_with_a_json_error(api, name):
    response = api.get(f"/api/v1/leads?{name}=")
    assert response.status_code == 400 and response.is_json
    assert response.json["errors"][name] == ["Give a value, or leave the parameter out."]
    assert api.get(f"/api/v1/leads?{name}=%20%20").status_code == 400


def test_updated_since_is_documented_with_its_format(doc):
    schema = _parameter(doc, "/leads", "get", "updated_since")["schema"]
    assert schema["format"] == "date-time" and re.search(schema["pattern"], "") is None
    assert "400" in doc["paths"]["/leads"]["get"]["responses"]


def test_updated_since_far_in_the_past_with_an_offset_is_answered_not_a_crash(api):
    response = api.get("/api/v1/leads", query_string={"updated_since": "0001-01-01T00:00:00+01:00"})
    assert response.status_code == 400 and "updated_since" in response.json["errors"]


# --- (b) cursors are opaque: only the ones the API gave out are taken --------------------------

def test_cursor_format_is_declared_and_next_cursor_follows_it(api, doc, make_lead):
    for i in range(3):
        make_lead(first_name=f"L{i}")
    db.session.commit()
    schema = _parameter(doc, "/leads", "get", "cursor")["schema"]
    assert schema["type"] == "string" and "Opaque" in _parameter(doc, "/leads", "get", "cursor")["description"]
    page = api.get("/api/v1/leads?limit=1").json
    assert re.fullmatch(schema["pattern"], page["next_cursor"])
    assert len(page["next_cursor"]) <= schema["maxLength"]
    assert api.get(f"/api/v1/leads?limit=1&cursor={page['next_cursor']}").status_code == 200


@pytest.mark.parametrize("cursor", ["MDAx", "LTE", "IDE", "%%%", "abc", "MQ==", "MQ.", "x" * 41])
def test_a_cursor_the_api_did_not_give_out_is_refused(api, cursor):
    """"MDAx" is "001", "LTE" is "-1", "IDE" is " 1": they decode, but no page ever ended there."""
    response = api.get("/api/v1/leads", query_string={"cursor": cursor})
    assert response.status_code == 400 and response.json["errors"]["cursor"] == ["Use next_cursor as given."]


# --- (c) the Idempotency-Key header ----------------------------------------------------------

@pytest.mark.parametrize("key", ["a", "order-4711", "a b", "~!", "k" * 200, "k" * 201, "é", "a\tb", "   ", ""])
def test_idempotency_key_rules_in_the_document_are_the_ones_the_api_applies(doc, key):
    schema = _parameter(doc, "/leads", "post", "Idempotency-Key")["schema"]
    documented = schema["minLength"] <= len(key) <= schema["maxLength"] and bool(re.fullmatch(schema["pattern"], key))
    try:
        check_idempotency_key(key)
    except ValidationFailed:
        accepted = False
    else:
        accepted = True
    assert accepted == documented


def test_idempotency_replay_and_conflict_are_documented(doc):
    post = doc["paths"]["/leads"]["post"]
    assert _parameter(doc, "/leads", "post", "Idempotency-Key")["required"] is False
    assert "Idempotent-Replayed" in post["responses"]["201"]["headers"]
    assert "Idempotent-Replayed" in post["responses"]["200"]["headers"]
    assert "same key with another body is refused (422)" in post["description"]
    assert "Idempotency-Key" in post["responses"]["422"]["description"]


def test_an_unusable_idempotency_key_is_refused_as_documented(api):
    response = api.post("/api/v1/leads", json={"first_name": "Ada", "email": "ada@example.com"},
                        headers={"Idempotency-Key": "k" * 201})
    assert response.status_code == 400 and "Idempotency-Key" in response.json["errors"]


# --- (d) what a lead needs, in the document and in the API -----------------------------------

def test_lead_input_declares_a_name_and_a_way_to_reach_the_lead_as_required(doc):
    rules = doc["components"]["schemas"]["LeadInput"]["allOf"]
    assert [sorted(r["required"][0] for r in rule["anyOf"]) for rule in rules] == [
        ["first_name", "last_name"], ["email", "phone"]]


@pytest.mark.parametrize("body, field", [
    ({"email": "ada@example.com"}, "first_name"),
    ({"first_name": "  ", "email": "ada@example.com"}, "first_name"),
    ({"first_name": "Ada"}, "email"),
    ({"last_name": "Lovelace", "email": " ", "phone": None}, "email"),
])
def test_a_lead_without_a_name_or_a_way_to_reach_it_is_refused(api, body, field):
    response = api.post("/api/v1/leads", json=body)
    assert response.status_code == 422 and field in response.json["errors"]


def test_the_rule_holds_when_the_email_matches_a_lead_too(api, make_lead):
    """The document cannot know which emails exist: the API applies the rule to every lead sent."""
    lead = make_lead(first_name="Ada", email="ada@example.com")
    db.session.commit()
    response = api.post("/api/v1/leads", json={"email": "ada@example.com", "title": "CTO"})
    assert response.status_code == 422 and "first_name" in response.json["errors"]
    db.session.refresh(lead)
    assert lead.title != "CTO"
    named = api.post("/api/v1/leads", json={"last_name": "Lovelace", "email": "ada@example.com", "title": "CTO"})
    assert named.status_code == 200 and named.json["title"] == "CTO"


def test_a_batch_item_without_a_name_is_refused_alone(api):
    response = api.post("/api/v1/leads", json=[{"first_name": "Ada", "email": "ada@example.com"},
                                               {"phone": "+14155550111"}])
    assert response.status_code == 200
    assert [r["status"] for r in response.json["results"]] == ["created", "invalid"]
    assert "first_name" in response.json["results"][1]["errors"]


# --- found by tests/api/test_schemathesis.py ----------------------------------------------

@pytest.mark.parametrize("lead_id", [2**31, 3825479073971231065636864])
def test_a_lead_id_larger_than_any_database_takes_is_not_found(api, lead_id):
    response = api.get(f"/api/v1/leads/{lead_id}")
    assert response.status_code == 404 and response.is_json


def test_a_cursor_past_any_lead_id_is_refused_not_a_crash(api):
    import base64

    cursor = base64.urlsafe_b64encode(str(2**31).encode()).decode().rstrip("=")
    response = api.get("/api/v1/leads", query_string={"cursor": cursor})
    assert response.status_code == 400 and "cursor" in response.json["errors"]


@pytest.mark.parametrize("text", ["Ada\u0000", "\ud800Ada"])
def test_text_no_database_can_store_is_refused_with_a_message(api, text):
    """PostgreSQL refuses NUL in text and a lone surrogate is not UTF-8: 400, never a 500."""
    for body in ({"first_name": text, "email": "ada@example.com"},
                 [{"first_name": "Ada", "email": "ada@example.com", "custom_fields": {text: "x"}}]):
        response = api.post("/api/v1/leads", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 400 and "NUL" in response.json["message"]
    assert api.get("/api/v1/leads").json["data"] == []


def test_a_batch_answer_is_told_apart_from_a_lead_by_the_document(doc):
    """POST /leads answers 200 with a Lead or a BatchResult (oneOf): each needs what the other lacks."""
    schemas = doc["components"]["schemas"]
    assert "results" in schemas["BatchResult"]["required"] and "id" in schemas["Lead"]["required"]
