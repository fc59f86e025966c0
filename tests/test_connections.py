"""The app's PostgreSQL connections: one the server closed while it sat in the pool (a restart,
an ended session) is replaced before a request gets it, and the driver still describes every
result SQLAlchemy asks about."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

import leadflow.db
from leadflow.extensions import db
from leadflow.leads.models import Lead


def _needs_postgresql():
    if db.engine.dialect.name != "postgresql":
        pytest.skip("runs when the tests use PostgreSQL (DATABASE_URL), as .ci/run does")


def _backend_pid() -> int:
    pid = db.session.scalar(text("SELECT pg_backend_pid()"))
    db.session.commit()
    db.session.remove()  # the connection goes back to the pool
    return pid


def _end_session(pid: int) -> None:
    """What a restart does to every connection: the server ends the session and closes it."""
    admin = create_engine(db.engine.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            deadline = time.monotonic() + 10
            while connection.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}):
                assert time.monotonic() < deadline, "the session did not end"
                time.sleep(0.02)
    finally:
        admin.dispose()


@pytest.mark.real_commits  # another connection ends the app's session; the pool must be the app's own
def test_a_connection_the_server_closed_is_replaced_before_a_request_uses_it(app, login_as, make_lead):
    _needs_postgresql()
    _, client = login_as("admin")
    lead = make_lead(first_name="Still", last_name="Here")
    db.session.commit()
    lead_id = lead.id
    old = _backend_pid()
    _end_session(old)

    response = client.get(f"/leads/{lead_id}")

    assert response.status_code == 200
    assert "Still Here" in response.get_data(as_text=True)
    assert _backend_pid() != old


@pytest.mark.real_commits  # the pool's connections themselves, not a test transaction's
def test_every_closed_connection_of_the_pool_is_replaced(app):
    _needs_postgresql()
    held = [db.engine.connect() for _ in range(3)]
    pids = [connection.scalar(text("SELECT pg_backend_pid()")) for connection in held]
    for connection in held:
        connection.close()  # back to the pool
    for pid in pids:
        _end_session(pid)

    again = [db.engine.connect() for _ in range(3)]
    try:
        seen = [connection.scalar(text("SELECT pg_backend_pid()")) for connection in again]
    finally:
        for connection in again:
            connection.close()
    assert not set(seen) & set(pids)


@pytest.mark.real_commits  # the pool's connections themselves, not a test transaction's
def test_a_connection_idle_for_long_is_pinged_and_replaced_when_it_does_not_answer(app, monkeypatch):
    """A firewall that forgets an idle connection sends nothing: there is nothing to read, so
    only a ping can tell. A connection idle longer than IDLE_PING_SECONDS gets one."""
    _needs_postgresql()
    monkeypatch.setattr(leadflow.db, "closed_by_server", lambda _connection: False)  # the silent drop
    pings = []
    real_ping = db.engine.dialect.do_ping
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda connection: pings.append(1) or real_ping(connection))
    old = _backend_pid()
    assert _backend_pid() == old and pings == []  # idle a moment: no ping, no round trip
    monkeypatch.setattr(leadflow.db, "IDLE_PING_SECONDS", 0)
    _end_session(old)

    assert _backend_pid() != old
    assert pings


def test_results_are_described_like_the_driver_does(app, make_lead):
    _needs_postgresql()
    make_lead(first_name="Described")
    db.session.flush()
    cursor = db.session.connection().connection.dbapi_connection.cursor()
    cursor.execute("SELECT id, first_name, created_at FROM leads WHERE first_name = %s", ("Described",))
    description = cursor.description
    assert [column.name for column in description] == ["id", "first_name", "created_at"]
    assert len(description) == 3
    assert description[1].type_display == "varchar(80)"
    cursor.execute("SELECT 1 AS one, 'x' AS other")  # the first description still names its own result
    assert [column.name for column in description] == ["id", "first_name", "created_at"]
    assert [column[0] for column in cursor.description] == ["one", "other"]
    cursor.execute("UPDATE leads SET first_name = first_name WHERE false")
    assert cursor.description is None
    cursor.close()
    # A statement SQLAlchemy compiles for the first time reads its columns from the description.
    row = db.session.execute(text("SELECT first_name AS given, last_name AS family FROM leads LIMIT 1")).one()
    assert row._fields == ("given", "family")
    assert db.session.query(Lead).filter_by(first_name="Described").one().first_name == "Described"
