"""POST/GET /api/v1/leads: what a program sending or reading leads sees."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from leadflow.activities.models import Activity
from leadflow.api.models import IdempotencyKey
from leadflow.api.services import IDEMPOTENCY_TTL, expire_idempotency_keys
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads.models import Lead


def _leads():
    db.session.expire_all()
    return list(db.session.scalars(db.select(Lead).where(Lead.deleted_at.is_(None)).order_by(Lead.id)))


def test_one_lead_is_created_with_201_and_its_json(api):
    response = api.post("/api/v1/leads", json={
        "first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Example.com", "phone": "+1 415 555 0111",
        "organization": "Analytical Engines", "tags": ["vip"], "utm_campaign": "spring",
        "custom_fields": {"plan": "pro"}, "marketing_consent": True, "consent_text": "Yes, email me"})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["name"] == "Ada Lovelace" and body["email"] == "Ada@example.com"
    assert body["phone"] == "+14155550111" and body["organization"] == "Analytical Engines"
    assert body["tags"] == ["vip"] and body["custom_fields"] == {"plan": "pro"}
    assert body["marketing_consent"] is True and body["source"] == "api"
    assert body["owner"]["id"] == api.user.id  # a rep's token: the rep owns what it sends
    assert response.headers["Location"].endswith(f"/api/v1/leads/{body['id']}")
    [lead] = _leads()
    assert lead.id == body["id"]
    timeline = db.session.scalars(db.select(Activity.subject).where(Activity.lead_id == lead.id)).all()
    assert "Lead received through the API" in timeline


def test_the_same_email_again_updates_the_lead_with_200(api):
    first = api.post("/api/v1/leads", json={"first_name": "Ada", "email": "ada@example.com"}).json
    second = api.post("/api/v1/leads", json={"first_name": "Ada", "email": "ADA@example.com", "title": "CTO"})
    assert second.status_code == 200
    assert second.json["id"] == first["id"] and second.json["title"] == "CTO"
    assert len(_leads()) == 1


def test_field_errors_come_back_as_422_per_field_and_nothing_is_saved(api):
    response = api.post("/api/v1/leads", json={"first_name": "Ada", "email": "not-an-email", "phone": "12"})
    assert response.status_code == 422
    assert set(response.json["errors"]) >= {"email", "phone"}
    assert "not a valid email" in response.json["errors"]["email"][0]
    assert _leads() == []


def test_unknown_fields_are_named(api):
    response = api.post("/api/v1/leads", json={"first_name": "Ada", "email": "a@example.com", "emial": "x"})
    assert response.status_code == 422 and "Unknown field" in response.json["errors"]["emial"][0]


def test_an_unknown_field_and_bad_values_are_reported_in_one_answer(api):
    response = api.post("/api/v1/leads", json={"first_name": 5, "email": "x", "phone": "12", "owner_id": 3})
    errors = response.json["errors"]
    assert response.status_code == 422
    assert "Unknown field" in errors["owner_id"][0]
    assert errors["first_name"] == ["Send this field as text."]
    assert "not a valid email" in errors["email"][0] and "not a valid phone number" in errors["phone"][0]
    assert _leads() == []


def test_a_batch_saves_the_good_items_and_reports_the_bad_ones(api):
    items = [
        {"first_name": "Ada", "email": "ada@example.com"},
        {"first_name": "Bad", "email": "nope"},
        "not an object",
        {"first_name": "Grace", "email": "grace@example.com"},
        {"first_name": "Ada again", "email": "ada@example.com"},
    ]
    response = api.post("/api/v1/leads", json={"leads": items})
    assert response.status_code == 200
    body = response.json
    statuses = [(r["index"], r["status"]) for r in body["results"]]
    assert statuses == [(0, "created"), (1, "invalid"), (2, "invalid"), (3, "created"), (4, "updated")]
    assert "email" in body["results"][1]["errors"] and "lead" in body["results"][2]["errors"]
    assert (body["created"], body["updated"], body["failed"]) == (2, 1, 2)
    assert body["results"][4]["id"] == body["results"][0]["id"]
    assert sorted(lead.email for lead in _leads()) == ["ada@example.com", "grace@example.com"]


def test_a_plain_json_array_is_a_batch_too(api):
    response = api.post("/api/v1/leads", json=[{"first_name": "A", "email": "a@example.com"}])
    assert response.status_code == 200 and response.json["created"] == 1


def test_batches_are_capped(api):
    items = [{"first_name": f"L{i}", "email": f"l{i}@example.com"} for i in range(101)]
    response = api.post("/api/v1/leads", json=items)
    assert response.status_code == 413 and "at most 100" in response.json["message"]
    assert _leads() == []


# --- hostile and malformed input ------------------------------------------------------------

@pytest.mark.parametrize("body, content_type, status, words", [
    (b"{not json", "application/json", 400, "not valid JSON"),
    (b"", "application/json", 400, "empty"),
    (b"\xff\xfe{}", "application/json", 400, "UTF-8"),
    (b'{"first_name": "\xc3\x28"}', "application/json", 400, "UTF-8"),
    (b'"just a string"', "application/json", 400, "lead object"),
    (b"42", "application/json", 400, "lead object"),
    (b"null", "application/json", 400, "lead object"),
    (b"[]", "application/json", 400, "empty"),
    (b'{"leads": 5}', "application/json", 400, "must be a list"),
    (b'{"value": NaN}', "application/json", 400, "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "JSON"),
    (b'{"value": 1' + b"0" * 5000 + b"}", "application/json", 400, "not valid JSON"),
    (b"first_name=Ada", "application/x-www-form-urlencoded", 415, "application/json"),
    (b'{"first_name": "Ada"}', "text/plain", 415, "application/json"),
])
def test_malformed_bodies_get_a_clear_4xx_never_a_500(api, body, content_type, status, words):
    response = api.post("/api/v1/leads", data=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.json
    assert response.is_json and words in response.json["message"]
    assert _leads() == []


def test_an_oversized_body_gets_413(api):
    huge = json.dumps({"first_name": "A", "email": "a@example.com", "title": "x" * (1024 * 1024)})
    response = api.post("/api/v1/leads", data=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.is_json
    assert _leads() == []


@pytest.mark.parametrize("field, value", [
    ("first_name", 12), ("first_name", ["a", "b"]), ("email", {"nested": {"deep": 1}}),
    ("phone", True), ("tags", [1, 2]), ("tags", {"a": 1}), ("value", [1]), ("custom_fields", "text"),
    ("custom_fields", {"k": {"deep": 1}}), ("marketing_consent", "yes"), ("title", "x" * 10_000),
    ("value", -5), ("value", "1e999"),
])
def test_wrong_types_and_sizes_are_422_with_the_field_named(api, field, value):
    data = {"first_name": "Ada", "email": "ada@example.com", field: value}
    response = api.post("/api/v1/leads", json=data)
    assert response.status_code == 422, response.json
    assert response.json["errors"], response.json
    assert _leads() == []


def test_null_fields_are_treated_as_absent(api):
    response = api.post("/api/v1/leads", json={"first_name": "Ada", "email": "a@example.com", "phone": None,
                                                "title": None, "tags": None})
    assert response.status_code == 201 and response.json["phone"] is None


def test_script_tags_are_kept_as_text_and_escaped_on_pages(api, login_as):
    response = api.post("/api/v1/leads", json={"first_name": "<script>alert(1)</script>", "email": "x@example.com"})
    assert response.status_code == 201
    assert response.json["first_name"] == "<script>alert(1)</script>"
    _, client = login_as("admin")
    page = client.get(f"/leads/{response.json['id']}").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- idempotency ---------------------------------------------------------------------------

def test_a_retry_with_the_same_key_replays_the_first_answer(api):
    body = {"first_name": "Ada", "email": "ada@example.com"}
    first = api.post("/api/v1/leads", json=body, headers={"Idempotency-Key": "order-1"})
    assert first.status_code == 201
    api.post("/api/v1/leads", json={"first_name": "Changed", "email": "ada@example.com"})  # someone edits it
    retry = api.post("/api/v1/leads", json=body, headers={"Idempotency-Key": "order-1"})
    assert retry.status_code == 201 and retry.json == first.json
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["Location"] == first.headers["Location"]
    [lead] = _leads()
    assert lead.first_name == "Changed"  # the replay changed nothing
    received = db.session.scalar(db.select(db.func.count(Activity.id)).where(
        Activity.lead_id == lead.id, Activity.subject == "Lead received through the API"))
    assert received == 2  # the first call and the edit; not the replay


def test_a_batch_is_replayed_too(api):
    items = [{"first_name": "A", "email": "a@example.com"}, {"first_name": "B", "email": "bad"}]
    first = api.post("/api/v1/leads", json=items, headers={"Idempotency-Key": "batch-7"})
    retry = api.post("/api/v1/leads", json=items, headers={"Idempotency-Key": "batch-7"})
    assert retry.json == first.json and len(_leads()) == 1


def test_the_same_key_with_another_body_is_refused(api):
    api.post("/api/v1/leads", json={"first_name": "Ada", "email": "ada@example.com"}, headers={"Idempotency-Key": "k"})
    response = api.post("/api/v1/leads", json={"first_name": "Bob", "email": "bob@example.com"},
                        headers={"Idempotency-Key": "k"})
    assert response.status_code == 422
    assert "different request body" in response.json["message"]
    assert [lead.first_name for lead in _leads()] == ["Ada"]


def test_keys_belong_to_one_token(api, make_token, client):
    api.post("/api/v1/leads", json={"first_name": "Ada", "email": "ada@example.com"}, headers={"Idempotency-Key": "k"})
    _, other, _ = make_token()
    response = client.post("/api/v1/leads", json={"first_name": "Bob", "email": "bob@example.com"},
                           headers={"Authorization": f"Bearer {other}", "Idempotency-Key": "k"})
    assert response.status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 201, "tab\there", "ünïcode"])
def test_unusable_idempotency_keys_get_400(api, key):
    response = api.post("/api/v1/leads", json={"first_name": "Ada", "email": "ada@example.com"},
                        headers={"Idempotency-Key": key})
    assert response.status_code == 400 and "Idempotency-Key" in response.json["errors"]
    assert _leads() == []


def test_keys_expire_after_24_hours(api):
    body = {"first_name": "Ada", "email": "ada@example.com"}
    api.post("/api/v1/leads", json=body, headers={"Idempotency-Key": "old"})
    api.post("/api/v1/leads", json=body, headers={"Idempotency-Key": "new"})
    old = db.session.scalar(db.select(IdempotencyKey).where(IdempotencyKey.key == "old"))
    old.created_at = utcnow() - IDEMPOTENCY_TTL - timedelta(minutes=1)
    db.session.commit()
    # An expired key is a new request even before the sweep runs.
    again = api.post("/api/v1/leads", json=body, headers={"Idempotency-Key": "old"})
    assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers
    old = db.session.scalar(db.select(IdempotencyKey).where(IdempotencyKey.key == "old"))
    old.created_at = utcnow() - IDEMPOTENCY_TTL - timedelta(minutes=1)
    db.session.commit()
    assert expire_idempotency_keys(utcnow()) == 1
    db.session.commit()
    db.session.expire_all()
    assert db.session.scalars(db.select(IdempotencyKey.key)).all() == ["new"]


def test_the_sweep_is_registered():
    from leadflow.scheduler.registry import SWEEPS

    assert SWEEPS["idempotency-keys"].func is expire_idempotency_keys


def test_the_loser_of_a_race_on_one_key_replays_the_winner(api, monkeypatch):
    """Two requests with one key both found it unused; the second to store its answer rolls
    its own work back and answers with the first one's."""
    from leadflow.api import services

    body = {"first_name": "Ada", "email": "ada@example.com"}
    winner = api.post("/api/v1/leads", json=body, headers={"Idempotency-Key": "race"})
    monkeypatch.setattr(services, "stored_response",
                        _first_call_misses(services.stored_response))
    loser = api.post("/api/v1/leads", json={"first_name": "Ada", "email": "ada@example.com"},
                     headers={"Idempotency-Key": "race"})
    assert loser.status_code == 201 and loser.json == winner.json
    assert loser.headers["Idempotent-Replayed"] == "true"
    [lead] = _leads()
    assert db.session.scalar(db.select(db.func.count(Activity.id)).where(
        Activity.lead_id == lead.id, Activity.subject == "Lead received through the API")) == 1


def _first_call_misses(real):
    calls = []

    def fake(*args, **kwargs):
        calls.append(1)
        return None if len(calls) == 1 else real(*args, **kwargs)

    return fake


# --- reading ---------------------------------------------------------------------------------

def test_list_pages_with_a_cursor(api, make_lead):
    for i in range(5):
        make_lead(first_name=f"L{i}", email=f"l{i}@example.com")
    db.session.commit()
    first = api.get("/api/v1/leads?limit=2").json
    assert [d["first_name"] for d in first["data"]] == ["L0", "L1"] and first["next_cursor"]
    second = api.get(f"/api/v1/leads?limit=2&cursor={first['next_cursor']}").json
    third = api.get(f"/api/v1/leads?limit=2&cursor={second['next_cursor']}").json
    assert [d["first_name"] for d in second["data"] + third["data"]] == ["L2", "L3", "L4"]
    assert third["next_cursor"] is None


def test_list_filters_by_email_and_updated_since(api, make_lead):
    old = make_lead(first_name="Old", email="old@example.com")
    make_lead(first_name="New", email="new@example.com")
    old.updated_at = utcnow() - timedelta(days=3)
    db.session.commit()
    by_email = api.get("/api/v1/leads?email=OLD@example.com").json["data"]
    assert [d["first_name"] for d in by_email] == ["Old"]
    since = (utcnow() - timedelta(days=1)).isoformat()
    recent = api.get("/api/v1/leads", query_string={"updated_since": since}).json["data"]
    assert [d["first_name"] for d in recent] == ["New"]


def test_trashed_leads_are_not_listed_or_found(api, make_lead):
    from leadflow.leads.services import delete_lead

    lead = make_lead(first_name="Gone")
    delete_lead(api.user, lead)  # unassigned: the rep may delete it
    db.session.commit()
    assert api.get("/api/v1/leads").json["data"] == []
    response = api.get(f"/api/v1/leads/{lead.id}")
    assert response.status_code == 404 and response.is_json


@pytest.mark.parametrize("query, field", [
    ("limit=0", "limit"), ("limit=1000", "limit"), ("limit=abc", "limit"),
    ("cursor=%%%", "cursor"), ("email=not-an-email", "email"), ("updated_since=yesterday", "updated_since"),
])
def test_bad_list_parameters_get_400(api, query, field):
    response = api.get(f"/api/v1/leads?{query}")
    assert response.status_code == 400 and field in response.json["errors"]


def test_get_one_lead(api, make_lead):
    lead = make_lead(first_name="Ada", email="ada@example.com", tags="vip, board")
    db.session.commit()
    body = api.get(f"/api/v1/leads/{lead.id}").json
    assert body["id"] == lead.id and sorted(body["tags"]) == ["board", "vip"]


def test_unknown_addresses_and_methods_answer_json(api):
    missing = api.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.is_json
    wrong = api.post("/api/v1/leads/1", json={})
    assert wrong.status_code == 405 and wrong.is_json


def test_each_token_has_its_own_rate_limit(make_app, make_token):
    _, first, _ = make_token()
    _, second, _ = make_token()
    limited = make_app(RATELIMIT_ENABLED=True, API_RATE_LIMIT="3 per minute").test_client()
    statuses = [limited.get("/api/v1/leads", headers={"Authorization": f"Bearer {first}"}).status_code
                for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = limited.get("/api/v1/leads", headers={"Authorization": f"Bearer {first}"})
    assert refused.is_json and refused.json["error"] == "Too many attempts"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert limited.get("/api/v1/leads", headers={"Authorization": f"Bearer {second}"}).status_code == 200


# --- the OpenAPI document: tests/api/test_openapi.py ---------------------------------------


@pytest.mark.real_commits  # requests in threads, each on its own connection
def test_two_simultaneous_requests_with_one_key_create_one_lead(app, api):
    import threading

    body = {"first_name": "Ada", "email": "ada@example.com"}
    headers = {"Authorization": f"Bearer {api.plain}", "Idempotency-Key": "simultaneous"}
    db.session.commit()
    barrier, answers = threading.Barrier(2), []

    def send():
        client = app.test_client()
        barrier.wait(timeout=5)
        response = client.post("/api/v1/leads", json=body, headers=headers)
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == 2
    assert answers[0] == answers[1] and answers[0][0] == 201
    assert len(_leads()) == 1


def test_custom_fields_sent_again_are_set_and_null_leaves_a_field_as_it_is(api, login_as):
    """The API sets the names it sends and keeps the others; null does not remove a field
    (as documented): people remove one on the lead page, and the API then shows it gone."""
    first = api.post("/api/v1/leads", json={"first_name": "Ada", "email": "ada@example.com",
                                            "custom_fields": {"plan": "pro", "product": "Acme Widgets 3000"}})
    assert first.status_code == 201, first.get_json()
    lead_id = first.get_json()["id"]
    again = api.post("/api/v1/leads", json={"first_name": "Ada", "email": "ada@example.com",
                                            "custom_fields": {"plan": "enterprise", "product": None}})
    assert again.status_code == 200, again.get_json()
    assert api.get(f"/api/v1/leads/{lead_id}").get_json()["custom_fields"] == {"plan": "enterprise",
                                                                              "product": "Acme Widgets 3000"}
    lead = db.session.get(Lead, lead_id)
    assert "acme widgets 3000" in lead.search_text and "enterprise" in lead.search_text
    _, client = login_as("admin", htmx=True)
    removed = client.post(f"/leads/{lead_id}/custom-field/remove?key=product", data={"version": lead.version})
    assert removed.status_code == 200
    assert api.get(f"/api/v1/leads/{lead_id}").get_json()["custom_fields"] == {"plan": "enterprise"}
