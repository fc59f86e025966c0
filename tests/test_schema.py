"""The schema the migrations build is the one the models describe, and SQLite is set up
so that concurrent writers wait for each other instead of failing half-way."""

from __future__ import annotations

import threading
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from leadflow.accounts.models import User
from leadflow.accounts.services import end_all_sessions
from leadflow.db import begin_mode
from leadflow.extensions import db

# Migrations, pooled connections and SQLite locking between connections: each test looks at connections of its own.
pytestmark = pytest.mark.real_commits


def _sqlite_only():
    if db.engine.dialect.name != "sqlite":
        pytest.skip(f"SQLite connection settings; this run uses {db.engine.dialect.name}")


def test_the_suite_runs_on_the_database_it_was_given(app):
    """``DATABASE_URL=postgresql://… make test`` really tests PostgreSQL, never SQLite by accident."""
    import os

    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or "sqlite://"
    expected = "postgresql" if url.startswith(("postgres://", "postgresql")) else "sqlite"
    assert db.engine.dialect.name == expected


def test_models_and_migrations_agree(app):
    """Autogenerate finds nothing to do: every model change has its migration."""
    migrate_args = app.extensions["migrate"].configure_args
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": migrate_args.get("compare_type", True),
            "compare_server_default": False,
            "include_name": migrate_args["include_name"],  # the search index is no model (leads.models)
        })
        differences = compare_metadata(context, db.metadata)
    assert differences == [], "models differ from migrations; run `make migration m=...`:\n" + "\n".join(
        map(repr, differences))


def test_migrations_are_at_a_single_head(app):
    from alembic.script import ScriptDirectory

    config = app.extensions["migrate"].migrate.get_config()
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"several migration heads, merge them: {heads}"
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == heads[0]


def test_sqlite_connections_enforce_foreign_keys_and_wait_when_busy(app):
    _sqlite_only()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == app.config["SQLITE_BUSY_TIMEOUT_MS"]
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_every_pooled_sqlite_connection_is_configured(app):
    """Not just the first connection: a fresh one opened while another is checked out too."""
    _sqlite_only()
    token = begin_mode.set("DEFERRED")  # two readers; IMMEDIATE would make the second wait
    try:
        with db.engine.connect() as first, db.engine.connect() as second:
            for conn in (first, second):
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    finally:
        begin_mode.reset(token)


def test_sqlite_refuses_a_row_pointing_at_nothing(app):
    _sqlite_only()
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO users (email, name, password_hash, role, team_id, active, session_version, "
                "timezone, language, working_hours) VALUES "
                "('x@example.com', 'X', 'h', 'rep', 999999, 1, 1, 'UTC', 'en', '09:00-17:00')"))


def _bump_session_version(app, user_id: int, barrier: threading.Barrier, errors: list, mode: str | None):
    """One unit of work: read the user, think, write the user, commit."""
    token = begin_mode.set(mode) if mode else None
    try:
        with app.app_context():
            try:
                try:
                    barrier.wait(timeout=5)
                except threading.BrokenBarrierError:
                    pass
                user = db.session.get(User, user_id)  # the read starts the transaction
                time.sleep(0.3)  # the other writer arrives meanwhile
                end_all_sessions(user)
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - reported to the test
                db.session.rollback()
                errors.append(exc)
            finally:
                db.session.remove()
    finally:
        if token is not None:
            begin_mode.reset(token)


def _run_two_writers(app, make_user, mode: str | None):
    user = make_user(role="rep")
    db.session.commit()
    user_id, start_version = user.id, user.session_version
    db.session.remove()
    errors: list = []
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=_bump_session_version, args=(app, user_id, barrier, errors, mode))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    version = db.session.scalar(db.select(User.session_version).where(User.id == user_id))
    return errors, version - start_version


def test_two_concurrent_writers_both_succeed(app, make_user):
    """Write transactions begin IMMEDIATE (on SQLite): the second waits for the lock at its
    start, so neither fails half-way with "database is locked" and no update is lost."""
    errors, bumps = _run_two_writers(app, make_user, mode=None)  # the default mode outside requests
    assert errors == []
    assert bumps == 2


def test_deferred_transactions_would_fail_half_way(app, make_user):
    """The control: the same work with a plain deferred BEGIN does fail, so the test above
    proves something."""
    _sqlite_only()
    errors, bumps = _run_two_writers(app, make_user, mode="DEFERRED")
    assert errors and "database is locked" in str(errors[0])
    assert bumps == 1


def test_unsafe_requests_take_the_write_lock_and_reads_do_not(app, login_as):
    """GET runs in a deferred (reader) transaction; POST takes the write lock up front."""
    _sqlite_only()
    from sqlalchemy import event

    user, client = login_as("admin")
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        if statement.startswith("BEGIN"):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        client.get("/settings")
        reads = list(statements)
        statements.clear()
        client.post("/settings", data={"workspace_name": "Acme", "default_phone_region": "US",
                                       "default_currency": "USD"})
        writes = list(statements)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert reads and all(s == "BEGIN" for s in reads)
    assert "BEGIN IMMEDIATE" in writes
