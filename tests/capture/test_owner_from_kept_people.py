"""A capture form's owner (round-robin over a team, or one named user) comes from the people
kept for the process (``routing.services.kept_people``): no read of users per submission, and
a change to someone's availability, made anywhere, is seen by the very next submission."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from leadflow.accounts.models import Team, User
from leadflow.capture import services
from leadflow.capture.models import CaptureForm
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.routing.services import Person, kept_people
from leadflow.web import refcache

from tests.capture.conftest import form_token


def _team(make_user, *names: str) -> tuple[Team, list[User]]:
    team = Team(name="Inbound")
    db.session.add(team)
    db.session.flush()
    return team, [make_user("rep", name=name, team_id=team.id) for name in names]


def _submit(client, email: str, slug: str = "contact-us"):
    token = form_token(client, slug)
    response = client.post(f"/f/{slug}", data={"first_name": "A", "email": email, "form_token": token})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


def _owner(email: str) -> int | None:
    return db.session.scalar(db.select(Lead.owner_id).where(Lead.email_key == email))


def test_the_people_kept_are_the_columns_whose_writes_bump_the_users_version():
    assert set(Person._fields) == {"id", *refcache.USER_COLUMNS}


def test_a_round_robin_submission_reads_no_users(make_form, make_user, make_app, count_queries):
    """The request alone (its arrival, which alerts the owner, runs after the commit): the
    owner's checks and "Assigned to" entry read the owner held from the kept team."""
    team, (first, second) = _team(make_user, "Ann First", "Bob Second")
    make_form(owner_rule="round_robin", team_id=str(team.id))
    web = make_app(ARRIVALS_RUN_INLINE=False, CAPTURE_MIN_FILL_SECONDS=0).test_client()
    _submit(web, "p0@example.com")  # the first keeps the team for the process
    token = form_token(web, "contact-us")
    with count_queries() as statements:
        web.post("/f/contact-us", data={"first_name": "A", "email": "p1@example.com", "form_token": token})
    assert [_owner("p0@example.com"), _owner("p1@example.com")] == [first.id, second.id]
    assert not [s for s in statements if "FROM users" in s], "\n".join(statements)


def test_a_single_owner_submission_reads_no_users(make_form, make_user, make_app, count_queries):
    owner = make_user("rep", name="Olga Owner")
    make_form(owner_rule="user", owner_id=str(owner.id))
    web = make_app(ARRIVALS_RUN_INLINE=False, CAPTURE_MIN_FILL_SECONDS=0).test_client()
    _submit(web, "p0@example.com")
    token = form_token(web, "contact-us")
    with count_queries() as statements:
        web.post("/f/contact-us", data={"first_name": "A", "email": "p1@example.com", "form_token": token})
    assert [_owner("p0@example.com"), _owner("p1@example.com")] == [owner.id, owner.id]
    assert not [s for s in statements if "FROM users" in s], "\n".join(statements)


def test_the_owner_chosen_is_held_as_loaded_and_reads_the_rest_when_asked(make_form, make_user, app,
                                                                          count_queries):
    team, (first, _second) = _team(make_user, "Ann First", "Bob Second")
    first.timezone = "Europe/Berlin"
    form_id, first_id = make_form(owner_rule="round_robin", team_id=str(team.id)).id, first.id
    db.session.commit()  # a transaction that wrote users keeps nothing for the process
    kept = [person.name for person in kept_people().team_writers[team.id]]
    assert kept == ["Ann First", "Bob Second"]
    db.session.expunge_all()  # as a request's session, holding none of them
    form = db.session.get(CaptureForm, form_id)
    with count_queries() as chosen:
        owner_id = services.choose_owner(form)
        owner = db.session.get(User, owner_id)  # the owner's checks and "Assigned to" entry
        assert (owner.name, owner.active) == ("Ann First", True)
    assert owner_id == first_id
    assert not [s for s in chosen if "FROM users" in s], "\n".join(chosen)
    with count_queries() as rest:
        assert owner.timezone == "Europe/Berlin"  # not kept: loaded when first read
    assert len(rest) == 1 and "FROM users" in rest[0]


@pytest.mark.real_commits  # the change is committed by a connection of its own, as another process would
@pytest.mark.parametrize("column, value", [
    ("out_of_office_until", utcnow() + timedelta(days=3)), ("active", False), ("max_open_leads", 0)])
def test_a_member_made_unavailable_elsewhere_is_skipped_by_the_next_submission(
        make_form, make_user, client, app, column, value):
    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    team, (first, second) = _team(make_user, "Ann First", "Bob Second")
    make_form(owner_rule="round_robin", team_id=str(team.id))
    first_id, second_id = first.id, second.id
    _submit(client, "p0@example.com")  # the team is kept for the process now
    db.session.remove()  # the test's own read transaction would hold SQLite's lock
    with db.engine.begin() as other:  # raw SQL on its own connection: no ORM event sees it
        other.execute(text(f"UPDATE users SET {column} = :value WHERE id = :id"), {"value": value, "id": second_id})
    _submit(client, "p1@example.com")  # Bob's turn, but he cannot take it
    assert [_owner("p0@example.com"), _owner("p1@example.com")] == [first_id, first_id]


@pytest.mark.real_commits  # the change is committed by a connection of its own, as another process would
def test_a_form_owner_made_away_elsewhere_gets_no_lead_from_the_next_submission(make_form, make_user, client, app):
    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    owner_id = make_user("rep", name="Olga Owner").id
    make_form(owner_rule="user", owner_id=str(owner_id))
    _submit(client, "p0@example.com")
    db.session.remove()
    with db.engine.begin() as other:
        other.execute(text("UPDATE users SET out_of_office_until = :value WHERE id = :id"),
                      {"value": utcnow() + timedelta(days=3), "id": owner_id})
    _submit(client, "p1@example.com")  # no routing rule either: the lead waits for someone to take it
    assert [_owner("p0@example.com"), _owner("p1@example.com")] == [owner_id, None]
