"""PostgreSQL: a transaction's BEGIN goes in the round trip of its first statement, and a request
that writes confirms the signed-in user in that round trip too (a user this process read
before). A round trip costs a request 0.1-0.3 ms here, more on a busy machine, where a SQLite
statement costs 0.01: a move on the board went from six round trips to three (its last
statement carries the COMMIT too). Counted from the
driver's own protocol trace (libpq's ``PQtrace``): each round trip ends with the server's
ReadyForQuery."""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.pipeline.moves import lead_to_move
from leadflow.pipeline.services import ensure_default_pipeline

pytestmark = pytest.mark.real_commits  # the requests commit for real: their COMMIT is counted


@pytest.fixture(autouse=True)
def _postgresql_only(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no round trips: a statement is a function call")


@pytest.fixture
def stages(app):
    pipeline = ensure_default_pipeline()
    db.session.commit()
    return {s.name: s for s in pipeline.stages}


class Trace:
    """The protocol messages of the app's connections while it was on, in order."""

    def __init__(self):
        self.lines: list[str] = []

    @property
    def round_trips(self) -> int:
        return sum(1 for line in self.lines if "\tReadyForQuery\t" in line)

    def round_trips_text(self) -> list[list[str]]:
        """Each round trip's messages sent by the app (F), as their first words."""
        trips, current = [], []
        for line in self.lines:
            parts = line.split("\t")
            if parts[0] == "F" and len(parts) > 3:
                current.append(f"{parts[2]} {parts[3][:60]}")
            if "\tReadyForQuery\t" in line:
                trips.append(current)
                current = []
        return trips


@pytest.fixture
def traced():
    """``with traced() as trace: …``: libpq's trace of every connection the app checks out."""

    @contextmanager
    def _trace():
        import psycopg

        trace = Trace()
        files = []

        def on_checkout(dbapi_connection, _record, _proxy):
            file = tempfile.TemporaryFile(mode="w+")
            files.append((dbapi_connection, file))
            dbapi_connection.pgconn.trace(file.fileno())
            dbapi_connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)

        event.listen(db.engine, "checkout", on_checkout)
        try:
            yield trace
        finally:
            event.remove(db.engine, "checkout", on_checkout)
            for dbapi_connection, file in files:
                if not dbapi_connection.closed:
                    dbapi_connection.pgconn.untrace()
                file.seek(0)
                trace.lines += file.read().splitlines()
                file.close()

    return _trace


def _move(client, lead_id: int, stage_id: int, version: int):
    response = client.post("/pipeline/move", data={"lead_id": lead_id, "stage_id": stage_id, "version": version,
                                                   "mode": "drag"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return int(re.search(rf'data-lead-id="{lead_id}" data-version="(\d+)"', response.get_data(as_text=True)).group(1))


def test_a_move_on_the_board_takes_three_round_trips(login_as, make_lead, stages, traced):
    new, contacted = stages["New"].id, stages["Contacted"].id
    lead = make_lead(first_name="Tripper", value="300", stage_id=new)
    db.session.commit()
    lead_id, version = lead.id, lead.version
    _, client = login_as("manager", htmx=True)
    client.get("/pipeline")  # the process reads the user: later requests confirm it
    version = _move(client, lead_id, contacted, version)
    version = _move(client, lead_id, new, version)
    db.session.remove()
    with traced() as trace:
        _move(client, lead_id, contacted, version)
    trips = trace.round_trips_text()
    # BEGIN, the user's check and the lead; the move's UPDATE with its history; the totals with
    # the headers, and COMMIT. Before: BEGIN, the user and COMMIT had a round trip each.
    assert trace.round_trips == 3, "\n".join(map(str, trips))
    assert sum(message.startswith("Execute") for message in trips[0]) == 3, trips[0]
    assert "stage_totals" in " ".join(trips[-1]) and "COMMIT" in " ".join(trips[-1]), trips[-1]
    db.session.expire_all()
    assert db.session.get(Lead, lead_id).stage_id == contacted


def test_a_transactions_begin_never_takes_a_round_trip_of_its_own(login_as, stages, traced):
    rep, client = login_as("rep")
    client.get("/leads/new")
    with traced() as trace:
        response = client.post("/leads/new", data={"first_name": "Bea", "last_name": "Gin", "email": "bea@example.com",
                                                   "lifecycle": "lead", "currency": "USD", "owner_id": str(rep.id)})
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    trips = trace.round_trips_text()
    begins = [trip for trip in trips if any("BEGIN" in message for message in trip)]
    assert begins and all(len(trip) > 1 for trip in begins), "\n".join(map(str, trips))
    assert db.session.scalar(db.select(Lead.email).where(Lead.first_name == "Bea")) == "bea@example.com"


def test_a_write_request_from_a_user_deactivated_elsewhere_is_refused_and_writes_nothing(login_as, make_lead,
                                                                                        stages):
    new, contacted = stages["New"].id, stages["Contacted"].id
    lead = make_lead(first_name="Stay", stage_id=new)
    db.session.commit()
    lead_id, version = lead.id, lead.version
    user, client = login_as("manager", htmx=True)
    user_id = user.id
    client.get("/pipeline")
    version = _move(client, lead_id, contacted, version)  # the process keeps the user's row
    db.session.remove()
    with db.engine.begin() as other:  # another process's change: nothing in this one sees it
        other.execute(text("UPDATE users SET active = false WHERE id = :id"), {"id": user_id})
    response = client.post("/pipeline/move", data={"lead_id": lead_id, "stage_id": new,
                                                   "version": version, "mode": "drag"})
    assert response.status_code in (401, 302) or "login" in response.headers.get("HX-Redirect", ""), \
        response.status_code
    db.session.expire_all()
    assert db.session.get(Lead, lead_id).stage_id == contacted


def test_a_failed_first_statement_and_a_failed_commit_leave_the_connection_as_it_was(app):
    with db.engine.connect() as connection:
        connection.execute(text("CREATE TEMPORARY TABLE once (n int NOT NULL UNIQUE DEFERRABLE INITIALLY DEFERRED)"))
        connection.commit()
        connection.execute(text("INSERT INTO once VALUES (1)"))
        connection.commit()
        with pytest.raises(IntegrityError):  # BEGIN and the statement went together: the statement fails
            connection.execute(text("INSERT INTO once VALUES (NULL)"))
        connection.rollback()
        assert not connection.connection.dbapi_connection.autocommit
        connection.execute(text("INSERT INTO once VALUES (1)"))  # deferred: fails at COMMIT
        with pytest.raises(IntegrityError):
            connection.commit()
        connection.rollback()
        assert not connection.connection.dbapi_connection.autocommit
        connection.execute(text("INSERT INTO once VALUES (2)"))
        connection.commit()
        assert connection.execute(text("SELECT array_agg(n ORDER BY n) FROM once")).scalar() == [1, 2]
        connection.execute(text("DROP TABLE once"))
        connection.commit()


def test_a_statement_can_carry_its_transactions_commit(app):
    from leadflow.db import WriteAfterCommit, commit_with_next_statement

    with db.engine.connect() as connection, db.engine.connect() as other:
        connection.execute(text("CREATE TABLE carried (n int NOT NULL UNIQUE DEFERRABLE INITIALLY DEFERRED)"))
        connection.commit()
        try:
            connection.execute(text("INSERT INTO carried VALUES (1)"))
            with commit_with_next_statement():
                assert connection.execute(text("SELECT count(*) FROM carried")).scalar() == 1
            assert other.execute(text("SELECT count(*) FROM carried")).scalar() == 1  # committed: seen elsewhere
            other.rollback()
            assert connection.execute(text("SELECT n FROM carried")).scalar() == 1  # a read after it runs
            with pytest.raises(WriteAfterCommit):
                connection.execute(text("INSERT INTO carried VALUES (2)"))
            connection.commit()  # sends nothing: the work was committed with the statement
            assert not connection.connection.dbapi_connection.autocommit

            connection.execute(text("INSERT INTO carried VALUES (1)"))  # deferred: the COMMIT fails
            with pytest.raises(IntegrityError), commit_with_next_statement():
                connection.execute(text("SELECT 1"))
            connection.rollback()
            connection.execute(text("INSERT INTO carried VALUES (3)"))
            with pytest.raises(IntegrityError), commit_with_next_statement():  # the statement fails: no COMMIT
                connection.execute(text("INSERT INTO carried VALUES (NULL)"))
            connection.rollback()
            assert other.execute(text("SELECT array_agg(n ORDER BY n) FROM carried")).scalar() == [1]
            other.rollback()
        finally:
            connection.rollback()
            connection.execute(text("DROP TABLE carried"))
            connection.commit()


def test_a_write_request_whose_user_changed_elsewhere_runs_again_and_writes_once(login_as, make_lead, stages,
                                                                                 monkeypatch):
    from leadflow.pipeline import views
    from leadflow.pipeline.models import StageChange

    new, contacted = stages["New"].id, stages["Contacted"].id
    lead = make_lead(first_name="Once", stage_id=new)
    db.session.commit()
    lead_id, version = lead.id, lead.version
    user, client = login_as("manager", htmx=True, name="Before Rename")
    user_id = user.id
    client.get("/pipeline")
    version = _move(client, lead_id, contacted, version)
    db.session.remove()
    with db.engine.begin() as other:  # the kept row no longer matches: the check fails, the request runs again
        other.execute(text("UPDATE users SET name = 'After Rename' WHERE id = :id"), {"id": user_id})
    runs = []
    monkeypatch.setattr(views, "lead_to_move", lambda *args: runs.append(args) or lead_to_move(*args))
    response = client.post("/pipeline/move", data={"lead_id": lead_id, "stage_id": new, "version": version,
                                                   "mode": "drag"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert len(runs) == 2  # the first run's work was thrown away at the check
    db.session.expire_all()
    moved = db.session.get(Lead, lead_id)
    assert (moved.stage_id, moved.version) == (new, version + 1)
    changes = db.session.scalars(db.select(StageChange.to_stage_id).where(StageChange.lead_id == lead_id)
                                 .order_by(StageChange.id)).all()
    assert changes == [new, contacted, new]  # created in New, moved, moved back: once


def test_an_api_create_sends_its_lead_with_its_arrival_and_its_totals_with_the_commit(app, make_user, traced,
                                                                                       monkeypatch):
    """The lead's INSERT carries its arrival row (``insert_one_with_held``), and the board
    totals, its last statement, carry the COMMIT: four round trips where there were six."""
    from leadflow.api.services import create_token
    from leadflow.accounts.system import system_actor
    from leadflow.leads.arrival_models import LeadArrival

    monkeypatch.setitem(app.config, "ARRIVALS_RUN_INLINE", False)  # the sweep's statements are not the request's
    ensure_default_pipeline()
    user = make_user(role="rep")
    _, plain = create_token(system_actor("Test setup"), user=user, name="Round trips", scopes="read,write")
    db.session.commit()
    client = app.test_client()

    def create(email: str) -> int:
        response = client.post("/api/v1/leads", headers={"Authorization": f"Bearer {plain}"},
                               json={"first_name": "Api", "last_name": "Trip", "email": email})
        assert response.status_code == 201, response.get_data(as_text=True)[:300]
        return response.get_json()["id"]

    create("first@example.com")  # the token's first use is recorded once: not what every create runs
    db.session.remove()
    with traced() as trace:
        lead_id = create("second@example.com")
    trips = [" ".join(trip) for trip in trace.round_trips_text()]
    # BEGIN with the token; the email's holder; the lead with its arrival; the totals with COMMIT.
    assert trace.round_trips == 4, "\n".join(trips)
    assert "BEGIN" in trips[0]
    assert trips[2].count("Execute") == 1 and "WITH new_row" in trips[2], trips[2]  # one statement
    assert "currency_totals" in trips[-1] and "COMMIT" in trips[-1], trips[-1]
    assert db.session.scalar(db.select(db.func.count()).select_from(LeadArrival)
                             .where(LeadArrival.lead_id == lead_id)) == 1
