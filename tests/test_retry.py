"""A busy database runs the whole request again; when it cannot, the answer is 503, never 500."""

from __future__ import annotations

import io
import sqlite3

import pytest
from flask import request
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from leadflow.db import begin_mode, is_conflict, is_retryable
from leadflow.errors import VersionConflict
from leadflow.extensions import csrf, db
from leadflow.leads.models import Lead
from tests import factories

# Real SQLite locks and retries: other connections hold the write lock, and the BEGIN each request takes is
# part of what is tested. Tests add routes of their own, so each has an app of its own.
pytestmark = [pytest.mark.real_commits, pytest.mark.own_app]


def locked() -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))


class _PgConflict(Exception):
    sqlstate = "40001"


def test_locked_sqlite_and_postgresql_conflicts_are_retryable_other_errors_not():
    assert is_retryable(locked())
    assert is_retryable(OperationalError("UPDATE", {}, _PgConflict("could not serialize access")))
    assert not is_retryable(OperationalError("SELECT", {}, Exception("no such table: leads")))
    assert not is_retryable(RuntimeError("database is locked"))
    assert not is_retryable(None)


class _PgUniqueViolation(Exception):
    sqlstate = "23505"

    def __init__(self, constraint: str):
        super().__init__(f'duplicate key value violates unique constraint "{constraint}"')
        self.diag = type("Diag", (), {"constraint_name": constraint})()


def test_a_lost_race_for_a_row_or_a_find_or_create_key_is_a_conflict_other_violations_not():
    assert is_conflict(StaleDataError("UPDATE statement on table 'leads' expected to update 1 row(s); 0 were matched."))
    for constraint in ("uq_organizations_live_name_key", "uq_tags_name_key", "pk_lead_tags"):
        assert is_conflict(IntegrityError("INSERT", {}, _PgUniqueViolation(constraint)))
    for message in ("UNIQUE constraint failed: organizations.name_key", "UNIQUE constraint failed: tags.name_key"):
        assert is_conflict(IntegrityError("INSERT", {}, Exception(message)))
    assert not is_conflict(IntegrityError("INSERT", {}, _PgUniqueViolation("uq_users_email")))
    assert not is_conflict(IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: users.email")))
    assert not is_conflict(IntegrityError("INSERT", {}, Exception("NOT NULL constraint failed: tags.name")))
    assert not is_conflict(locked()) and not is_conflict(None)


def _route(app, path, view):
    view.__name__ = path.strip("/").replace("/", "_").replace("-", "_")
    app.add_url_rule(path, view.__name__, csrf.exempt(view), methods=["POST"])


def _stale() -> StaleDataError:
    return StaleDataError("UPDATE statement on table 'leads' expected to update 1 row(s); 0 were matched.")


def _name_taken() -> IntegrityError:
    return IntegrityError("INSERT", {}, _PgUniqueViolation("uq_organizations_live_name_key"))


# A locked database (as a token check or a form lookup would meet it, before anything was
# committed), a lead row whose version moved on under the flush, a find-or-create key taken first.
@pytest.mark.parametrize("error", [locked, _stale, _name_taken], ids=["locked", "stale-row", "name-taken"])
def test_a_view_that_meets_a_busy_database_or_loses_a_race_runs_again_and_saves_once(app, client, error):
    calls = []

    def view():
        calls.append(1)
        factories.make_lead(first_name="Ada", email="ada@example.com")
        db.session.flush()
        if len(calls) == 1:
            raise error()
        db.session.commit()
        return "saved", 201

    _route(app, "/test/retry", view)
    response = client.post("/test/retry")
    assert response.status_code == 201
    assert len(calls) == 2
    assert db.session.scalar(db.select(db.func.count(Lead.id))) == 1, "the first attempt was rolled back"


def test_races_that_never_stop_answer_409_and_save_nothing(make_app):
    other = make_app(DB_BUSY_RETRY_ATTEMPTS=3, DB_BUSY_RETRY_SECONDS=5)
    calls = []

    def view():
        calls.append(1)
        factories.make_lead(first_name="Bo", email="bo@example.com")
        raise _name_taken()

    _route(other, "/test/races", view)
    with other.app_context():
        response = other.test_client().post("/test/races")
        assert db.session.scalar(db.select(db.func.count(Lead.id))) == 0
    assert len(calls) == 3
    assert response.status_code == 409
    assert "at the same moment, so nothing was saved" in response.get_data(as_text=True)


def test_a_view_that_committed_is_never_run_again_and_answers_503(app, client):
    calls = []

    def view():
        calls.append(1)
        factories.make_lead(first_name="Bo", email="bo@example.com")
        db.session.commit()
        raise locked()

    _route(app, "/api/test-committed", view)
    response = client.post("/api/test-committed")
    assert len(calls) == 1, "running it again could save the lead twice"
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "part of this may have been saved" in response.get_json()["message"]
    assert db.session.scalar(db.select(db.func.count(Lead.id))) == 1


def test_a_database_that_stays_busy_answers_503_with_retry_after(make_app):
    other = make_app(DB_BUSY_RETRY_ATTEMPTS=3, DB_BUSY_RETRY_SECONDS=5)
    calls = []

    def view():
        calls.append(1)
        raise locked()

    _route(other, "/test/busy", view)
    with other.app_context():
        response = other.test_client().post("/test/busy")
    assert len(calls) == 3
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "nothing was saved" in response.get_data(as_text=True)


def test_other_database_errors_are_not_retried(app, client):
    calls = []

    def view():
        calls.append(1)
        raise OperationalError("SELECT", {}, Exception("no such table: leads"))

    _route(app, "/test/broken", view)
    with pytest.raises(OperationalError):
        client.post("/test/broken")
    assert len(calls) == 1


def test_after_its_commit_a_request_only_reads_so_it_never_waits_for_the_write_lock(app, client):
    seen = {}

    def view():
        seen["before"] = begin_mode.get()
        factories.make_lead(first_name="Cy", email="cy@example.com")
        db.session.commit()
        seen["after"] = begin_mode.get()
        return "ok"

    _route(app, "/test/mode", view)
    assert client.post("/test/mode").status_code == 200
    assert seen == {"before": "IMMEDIATE", "after": "DEFERRED"}
    assert begin_mode.get() == "IMMEDIATE", "the next request starts as usual"


def test_a_view_run_again_reads_the_same_form_and_upload(app, client):
    seen = []

    def view():
        seen.append((request.form["name"], request.files["file"].read()))
        if len(seen) == 1:
            raise locked()
        return "ok"

    _route(app, "/test/upload", view)
    response = client.post("/test/upload", data={"name": "Ada", "file": (io.BytesIO(b"email\na@example.com\n"), "a.csv")})
    assert response.status_code == 200
    assert seen == [("Ada", b"email\na@example.com\n")] * 2


def test_a_lock_met_after_the_view_saved_never_answers_that_nothing_was_saved(make_app):
    """Outside the view's retries (a hook after it) a busy database is still a 503, but one that
    does not tell the visitor their saved lead was not saved."""
    other = make_app(PROPAGATE_EXCEPTIONS=False)

    def view():
        factories.make_lead(first_name="Di", email="di@example.com")
        db.session.commit()
        return "saved", 201

    _route(other, "/api/test-saved-then-hook", view)

    @other.after_request
    def hook_meets_a_lock(response):
        if request.path == "/api/test-saved-then-hook":
            raise locked()
        return response

    with other.app_context():
        response = other.test_client().post("/api/test-saved-then-hook")
        assert response.status_code == 503 and response.headers["Retry-After"].isdigit()
        assert "nothing was saved" not in response.get_json()["message"]
        assert "part of this may have been saved" in response.get_json()["message"]
        assert db.session.scalar(db.select(db.func.count(Lead.id))) == 1


@pytest.mark.parametrize("error", [StaleDataError("UPDATE statement on table 'leads' expected to update 1 row(s); "
                                                  "0 were matched."), "version"])
def test_a_lost_race_no_view_answers_itself_is_a_409_that_saved_nothing(app, client, error):
    def view():
        factories.make_lead(first_name="Ed", email="ed@example.com")
        db.session.flush()
        raise error if isinstance(error, Exception) else VersionConflict(None)

    _route(app, "/api/test-lost-race", view)
    response = client.post("/api/test-lost-race")
    assert response.status_code == 409
    assert "Someone else changed this" in response.get_json()["message"]
    assert db.session.scalar(db.select(db.func.count(Lead.id))) == 0


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_sign_in_while_another_writer_holds_the_lock_gets_the_busy_answer_not_a_500(make_app, htmx):
    email = factories.make_user(role="rep").email
    db.session.commit()
    other = make_app(SQLITE_BUSY_TIMEOUT_MS=20, DB_BUSY_RETRY_ATTEMPTS=2, DB_BUSY_RETRY_SECONDS=1,
                     WTF_CSRF_ENABLED=False)
    headers = {"HX-Request": "true"} if htmx else {}
    with other.app_context():
        client = other.test_client()
        holder = sqlite3.connect(other.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"),
                                 isolation_level=None) if db.engine.dialect.name == "sqlite" else None
        if holder is None:
            pytest.skip("the write lock is SQLite's")
        holder.execute("BEGIN IMMEDIATE")
        try:
            response = client.post("/login", data={"email": email, "password": "correct horse battery staple"},
                                   headers=headers)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "nothing was saved" in response.get_data(as_text=True).lower()
