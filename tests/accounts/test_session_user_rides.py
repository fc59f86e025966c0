"""PostgreSQL: a page that only reads, for a user this process has read before, starts from the
user's row as the process kept it; the database confirms that row in the round trip of the
page's first statement, so the user costs no round trip of its own. A change made anywhere
(raw SQL on another connection here, as another process would) is still refused or shown on
the very next request."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from leadflow.extensions import db

pytestmark = pytest.mark.real_commits  # the changes are committed by a connection of their own


@pytest.fixture(autouse=True)
def _postgresql_only(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads the user with a statement of its own: it costs no round trip")


def _change_elsewhere(sql: str, **params) -> None:
    db.session.remove()
    with db.engine.begin() as other:  # its own connection: nothing in the app's session sees it
        other.execute(text(sql), params)


def _page_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_a_page_confirms_a_user_read_before_in_the_round_trip_of_its_first_statement(login_as, count_queries):
    user, client = login_as("rep", name="Rita Rider")
    _page_of(client.get("/leads"))  # the first page reads the user with a statement of its own
    with count_queries() as statements:
        page = _page_of(client.get("/leads"))
    assert "Rita Rider" in page
    users = [s for s in statements if "FROM users" in s and "reference_versions" in s]
    assert len(users) == 1 and users == statements.riding, "\n".join(statements)


@pytest.mark.parametrize("change", ("active = false", "session_version = session_version + 1"),
                         ids=("deactivated", "session version bumped"))
def test_a_user_signed_out_elsewhere_is_refused_on_the_very_next_request(login_as, change):
    user, client = login_as("rep")
    _page_of(client.get("/leads"))
    _page_of(client.get("/leads"))
    _change_elsewhere(f"UPDATE users SET {change} WHERE id = :id", id=user.id)
    response = client.get("/leads")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_role_taken_away_is_refused_on_the_very_next_request(login_as):
    user, client = login_as("admin")
    _page_of(client.get("/settings/users"))
    _page_of(client.get("/settings/users"))
    _change_elsewhere("UPDATE users SET role = 'rep' WHERE id = :id", id=user.id)
    assert client.get("/settings/users").status_code == 403


def test_a_rename_shows_on_the_very_next_page(login_as):
    user, client = login_as("rep", name="Old Name")
    _page_of(client.get("/leads"))
    assert "Old Name" in _page_of(client.get("/leads"))
    _change_elsewhere("UPDATE users SET name = 'New Name' WHERE id = :id", id=user.id)
    page = _page_of(client.get("/leads"))
    assert "New Name" in page and "Old Name" not in page


def test_a_statement_that_writes_waits_for_the_check_and_a_failed_check_stops_it(app, make_user):
    from leadflow.db import CheckFailed, RidingCheck, begin_mode, riding_check

    user_id = make_user("rep", name="Unchanged").id
    db.session.commit()
    db.session.remove()
    mode = begin_mode.set("DEFERRED")  # as a request that only reads
    try:
        riding_check.set(RidingCheck(db.engine, "SELECT 'what the database holds'", {}, ("what the process kept",)))
        with pytest.raises(CheckFailed):
            db.session.execute(text("UPDATE users SET name = 'Changed' WHERE id = :id"), {"id": user_id})
        with pytest.raises(CheckFailed):  # still owed: every later statement is refused too
            db.session.execute(text("SELECT 1"))
        db.session.rollback()
    finally:
        riding_check.set(None)
        begin_mode.reset(mode)
    assert db.session.scalar(text("SELECT name FROM users WHERE id = :id"), {"id": user_id}) == "Unchanged"


@pytest.mark.parametrize("answer", ("SELECT 'what the database holds'", "SELECT 'no row' WHERE false"),
                         ids=("another row", "no row"))
def test_a_failed_check_outranks_the_error_of_the_statement_it_rode_with(app, answer):
    from leadflow.db import CheckFailed, RidingCheck, begin_mode, riding_check

    db.session.remove()
    mode = begin_mode.set("DEFERRED")  # as a request that only reads
    try:
        riding_check.set(RidingCheck(db.engine, answer, {}, ("what the process kept",)))
        with pytest.raises(CheckFailed):  # not the division's error: the user may be why it failed
            db.session.execute(text("SELECT 1 / 0"))
        db.session.rollback()
    finally:
        riding_check.set(None)
        begin_mode.reset(mode)
