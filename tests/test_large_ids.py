"""Ids larger than the database holds (ids are INTEGER: at most 2**31 - 1) are "not found", never 500."""

from __future__ import annotations

import base64
import re

import pytest
from werkzeug.routing import IntegerConverter

from leadflow.api.services import create_token
from leadflow.extensions import db
from leadflow.pipeline.services import ensure_default_pipeline
from tests import factories

TOO_LARGE = ("2147483648", "9999999999999999999999")


def _get_routes_with_int_arguments(app):
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and any(isinstance(c, IntegerConverter) for c in rule._converters.values()):
            yield rule


def _url(rule, big: str) -> str:
    return re.sub(r"<int:[^>]+>", big, re.sub(r"<(?:string:)?[^>:]+>", "x", rule.rule))


@pytest.mark.parametrize("big", TOO_LARGE)
def test_every_page_with_an_id_in_its_address_answers_404_for_an_id_too_large(app, login_as, big):
    _, client = login_as("admin")
    rules = list(_get_routes_with_int_arguments(app))
    assert len(rules) > 20, "the enumeration found the id routes"
    answers = {rule.rule: client.get(_url(rule, big)).status_code for rule in rules}
    assert {rule: status for rule, status in answers.items() if status != 404} == {}


@pytest.mark.parametrize("big", TOO_LARGE)
def test_the_api_answers_404_or_400_for_ids_too_large(app, client, make_user, big):
    ensure_default_pipeline()
    _, plain = create_token(factories.TEST_SETUP, user=make_user(role="rep"), name="Program", scopes="read,write")
    db.session.commit()
    headers = {"Authorization": f"Bearer {plain}"}
    response = client.get(f"/api/v1/leads/{big}", headers=headers)
    assert response.status_code == 404 and response.get_json()["error"]
    cursor = base64.urlsafe_b64encode(big.encode()).decode().rstrip("=")
    response = client.get(f"/api/v1/leads?cursor={cursor}", headers=headers)
    assert response.status_code == 400 and "cursor" in response.get_json()["errors"]


@pytest.mark.parametrize("big", TOO_LARGE)
def test_forms_that_post_ids_refuse_ids_too_large_with_a_message(app, login_as, make_lead, big):
    _, client = login_as("admin")
    lead = make_lead(first_name="Ada", email="ada@example.com")
    db.session.commit()
    posts = {  # path → (form, the answers that say "no such record" or show a form error)
        f"/merges/{big}/undo": ({}, (404,)),
        f"/leads/{lead.id}/merge": ({"with": big}, (404,)),
        "/leads/duplicates/dismiss": ({"first": str(lead.id), "second": big}, (404,)),
        "/pipeline/move": ({"lead_id": big, "stage_id": big, "version": "1"}, (404,)),
        "/pipeline/move?": ({"lead_id": str(lead.id), "stage_id": big, "above_id": big}, (404, 409, 422)),
        "/leads/bulk": ({"action": "reassign", "lead_ids": [big], "owner_id": big}, (302, 422)),
        "/leads/new": ({"first_name": "Bo", "email": "bo@example.com", "owner_id": big, "stage_id": big}, (200, 422)),
        f"/leads/{lead.id}/tasks": ({"title": "Call", "assignee_id": big}, (200, 422)),
    }
    for path, (data, expected) in posts.items():
        response = client.post(path, data=data)
        assert response.status_code in expected, (path, response.status_code)
    assert client.get(f"/settings/routing?lead_id={big}").status_code == 200
    assert client.get(f"/tasks?user={big}").status_code == 404
    assert db.session.scalar(db.select(db.func.count()).select_from(db.metadata.tables["leads"])) == 1


# Query-string values that name a record or a page, on the pages that filter or page with them.
FILTER_PAGES = ("/leads?owner={big}", "/leads?stage={big}", "/leads?page={big}", "/leads/export.csv?owner={big}",
                "/leads/export.csv?stage={big}", "/leads/trash?page={big}", "/leads/duplicates?page={big}",
                "/pipeline?team={big}", "/pipeline?owner={big}", "/pipeline/{pipeline}?team={big}",
                "/pipeline/{pipeline}/forecast?owner={big}&team={big}", "/organizations/trash?page={big}",
                "/imports?page={big}", "/settings/outbox?page={big}", "/settings/workflows/{rule}/runs?page={big}")


@pytest.mark.parametrize("big", TOO_LARGE)
def test_filters_and_pages_with_numbers_too_large_answer_a_page_not_500(app, login_as, make_lead, big):
    from leadflow.workflows.models import WorkflowRule

    admin, client = login_as("admin")
    pipeline = ensure_default_pipeline()
    make_lead(first_name="Ada", email="ada@example.com", owner_id=admin.id)
    make_lead(first_name="Una", email="una@example.com")
    rule = WorkflowRule(name="Hot lead", trigger="lead_created", conditions=[], actions=[], active=False, secret="s" * 32)
    db.session.add(rule)
    db.session.commit()
    answers = {}
    for page in FILTER_PAGES:
        response = client.get(page.format(big=big, pipeline=pipeline.id, rule=rule.id))
        response.get_data()  # a streamed CSV fails while it is read
        answers[page] = response.status_code
    assert {page: status for page, status in answers.items() if status != 200} == {}
    # An owner or stage no row can have matches no lead (not every lead, not the unassigned ones).
    for filter_ in ("owner", "stage"):
        body = client.get(f"/leads?{filter_}={big}").get_data(as_text=True)
        assert "ada@example.com" not in body and "una@example.com" not in body
    assert "ada@example.com" not in client.get(f"/leads/export.csv?owner={big}").get_data(as_text=True)
