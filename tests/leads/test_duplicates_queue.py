"""The possible-duplicates queue: each kind of pair, dismissals, permissions."""

from __future__ import annotations

import pytest

from leadflow.extensions import db
from leadflow.leads.duplicate_pairs import candidate_pairs
from leadflow.leads.merge_models import DuplicateDismissal


@pytest.fixture
def leads(app, make_lead, make_user):
    from tests.factories import make_lead_sharing_email

    owner = make_user(role="rep")
    made = {
        "ada1": make_lead(first_name="Ada", last_name="Lovelace", email="ada@example.com"),
        # Made before emails were unique: the migration parked its email beside ada1's.
        "ada2": make_lead_sharing_email("ADA@example.com", first_name="Augusta", last_name="King", owner_id=owner.id),
        "tel1": make_lead(first_name="Tom", last_name="Phone", email="t1@example.com", phone="+14155550111"),
        "tel2": make_lead(first_name="Tim", last_name="Fone", email="t2@example.com", phone="(415) 555-0111"),
        "org1": make_lead(first_name="Jonathan", last_name="Smith", email="js1@example.com", organization="Acme"),
        "org2": make_lead(first_name="Jonathon", last_name="Smith", email="js2@example.com", organization="Acme"),
        "org3": make_lead(first_name="Maria", last_name="Garcia", email="mg@example.com", organization="Acme"),
        "elsewhere": make_lead(first_name="Jonathan", last_name="Smith", email="js3@example.com", organization="Other"),
    }
    db.session.commit()
    return made, owner


def _pair(a, b):
    return tuple(sorted((a.id, b.id)))


def test_each_kind_of_pair_is_found_once_with_its_reason(leads):
    made, _ = leads
    found, complete = candidate_pairs()
    assert complete
    assert found == {
        _pair(made["ada1"], made["ada2"]): ["same email"],
        _pair(made["tel1"], made["tel2"]): ["same phone"],
        _pair(made["org1"], made["org2"]): ["similar name at the same organization"],
    }


def test_trashed_leads_make_no_pairs(leads):
    from leadflow.leads.services import delete_lead

    made, _ = leads
    from tests.factories import make_user

    delete_lead(make_user(role="admin"), made["tel2"])
    db.session.commit()
    assert _pair(made["tel1"], made["tel2"]) not in candidate_pairs()[0]


def test_the_page_lists_pairs_with_merge_and_dismiss(leads, login_as):
    made, _ = leads
    _, client = login_as("manager")
    page = client.get("/leads/duplicates")
    assert page.status_code == 200
    assert "3 possible duplicate pairs" in page.text
    assert "same email" in page.text and "same phone" in page.text and "similar name" in page.text
    assert f"/leads/{made['ada1'].id}/merge?with={made['ada2'].id}" in page.text
    assert "Not a duplicate" in page.text
    assert "/leads/duplicates" in client.get("/leads").text  # linked from the list header


def test_not_a_duplicate_hides_the_pair_for_good(leads, login_as):
    made, _ = leads
    _, client = login_as("manager", htmx=True)
    response = client.post("/leads/duplicates/dismiss", data={"first": made["tel1"].id, "second": made["tel2"].id})
    assert response.status_code == 200
    assert 'hx-swap-oob="true"' in response.text and "marked as different people" in response.text
    assert _pair(made["tel1"], made["tel2"]) not in candidate_pairs()[0]
    page = client.get("/leads/duplicates").text
    assert "same phone" not in page and "2 possible duplicate pairs" in page
    # Again, the other way round: still one dismissal.
    client.post("/leads/duplicates/dismiss", data={"first": made["tel2"].id, "second": made["tel1"].id})
    assert db.session.scalar(db.select(db.func.count(DuplicateDismissal.id))) == 1


def test_without_htmx_dismissing_redirects_back_with_a_message(leads, login_as):
    made, _ = leads
    _, client = login_as("manager")
    response = client.post("/leads/duplicates/dismiss", data={"first": made["tel1"].id, "second": made["tel2"].id},
                           follow_redirects=True)
    assert "marked as different people" in response.text


def test_a_rep_sees_pairs_but_acts_only_on_leads_they_may_edit(leads, login_as):
    made, owner = leads
    _, client = login_as("rep")
    page = client.get("/leads/duplicates").text
    assert "Only someone who may edit both leads can merge them" in page  # ada2 is another rep's
    assert f"/leads/{made['tel1'].id}/merge?with={made['tel2'].id}" in page  # both unassigned
    refused = client.post("/leads/duplicates/dismiss", data={"first": made["ada1"].id, "second": made["ada2"].id})
    assert refused.status_code == 403
    assert db.session.scalar(db.select(db.func.count(DuplicateDismissal.id))) == 0


def test_viewers_read_the_queue_but_cannot_dismiss(leads, login_as):
    made, _ = leads
    _, client = login_as("viewer")
    page = client.get("/leads/duplicates")
    assert page.status_code == 200 and "Not a duplicate" not in page.text
    assert client.post("/leads/duplicates/dismiss",
                       data={"first": made["tel1"].id, "second": made["tel2"].id}).status_code == 403


def test_bad_dismiss_input_is_refused(leads, login_as):
    made, _ = leads
    _, client = login_as("manager")
    assert client.post("/leads/duplicates/dismiss", data={"first": "x", "second": "1"}).status_code == 404
    assert client.post("/leads/duplicates/dismiss",
                       data={"first": made["tel1"].id, "second": made["tel1"].id}).status_code == 400


def test_an_empty_queue_says_what_to_do(app, login_as):
    _, client = login_as("rep")
    page = client.get("/leads/duplicates").text
    assert "No possible duplicates" in page and "Back to the leads" in page


def test_the_queue_reads_a_bounded_number_of_rows(app, make_lead, login_as, count_queries):
    for i in range(30):
        make_lead(first_name=f"P{i}", phone=f"+1415555010{i % 3}")
    db.session.commit()
    _, client = login_as("manager")
    with count_queries() as queries:
        page = client.get("/leads/duplicates")
    assert page.status_code == 200
    assert len(queries) < 25
    # Ten leads share each number: the first ten make 45 pairs, three numbers make 135.
    assert "135 possible duplicate pairs" in page.text
