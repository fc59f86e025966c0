"""Requests that only read (GET, HEAD, OPTIONS: ``leadflow.db.begin_mode`` DEFERRED) send no
BEGIN and no COMMIT on PostgreSQL while they read: the driver runs their statements in
autocommit, each with its own snapshot, as READ COMMITTED gives each statement inside a
transaction. Their first statement that does more than read begins a real transaction before
it runs, so a reading request that writes saves all of its writes with its one commit, or none.

``real_commits``: the test's rolled-back outer transaction would hide the request's own.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import IntegrityError

from leadflow.db import begin_mode, configure_postgresql_engine, only_reads
from leadflow.errors import PermissionDenied
from leadflow.extensions import db
from leadflow.leads.models import Tag


def _needs_postgresql():
    if db.engine.dialect.name != "postgresql":
        pytest.skip("runs when the tests use PostgreSQL (DATABASE_URL), as .ci/run does")


def _route(app, path, view):
    view.__name__ = path.strip("/").replace("/", "_").replace("-", "_")
    app.add_url_rule(path, view.__name__, view, methods=["GET"])


def _in_transaction(connection=None) -> bool | None:
    """Whether the server holds a transaction open for the session's (or ``connection``'s)
    PostgreSQL connection; None on SQLite."""
    if db.engine.dialect.name != "postgresql":
        return None
    pooled = (connection or db.session.connection()).connection
    return pooled.dbapi_connection.info.transaction_status.name != "IDLE"


def _tag_names() -> list[str]:
    db.session.remove()
    return sorted(db.session.scalars(select(Tag.name)))


@pytest.mark.own_app  # adds a route
@pytest.mark.real_commits  # the request's own transaction, not a savepoint of the test's
def test_a_page_that_only_reads_holds_no_transaction_open_on_postgresql(app, client):
    _needs_postgresql()
    seen = []

    def reads():
        db.session.scalar(select(func.count(Tag.id)))
        seen.append(_in_transaction())
        db.session.scalar(select(Tag.name).limit(1))
        seen.append(_in_transaction())
        return "read"

    _route(app, "/test/reads", reads)
    assert client.get("/test/reads").status_code == 200
    assert seen == [False, False], "no BEGIN went out, so no COMMIT is due"


@pytest.mark.own_app  # adds a route
@pytest.mark.real_commits  # the request's own transaction, not a savepoint of the test's
def test_a_get_that_writes_two_rows_saves_them_in_one_transaction(app, client):
    seen = []

    def reads_then_writes():
        db.session.scalar(select(func.count(Tag.id)))
        seen.append(_in_transaction())
        db.session.add(Tag(name="First", name_key="first"))
        db.session.flush()
        seen.append(_in_transaction())
        db.session.add(Tag(name="Second", name_key="second"))
        return "saved"

    _route(app, "/test/reads-then-writes", reads_then_writes)
    assert client.get("/test/reads-then-writes").status_code == 200
    assert _tag_names() == ["First", "Second"]
    if db.engine.dialect.name == "postgresql":
        assert seen == [False, True], "the first write began the transaction"
        transactions = set(db.session.scalars(text("SELECT xmin::text FROM tags")))
        assert len(transactions) == 1, "both rows were written by one transaction"


@pytest.mark.own_app  # adds a route
@pytest.mark.real_commits  # the request's own transaction, not a savepoint of the test's
def test_a_get_whose_second_write_fails_saves_nothing(app, client):
    def writes_then_fails():
        db.session.scalar(select(func.count(Tag.id)))
        db.session.add(Tag(name="Kept?", name_key="kept"))
        db.session.flush()
        db.session.add(Tag(name=None, name_key="nameless"))  # NOT NULL: the flush fails
        db.session.flush()
        return "unreachable"

    _route(app, "/test/writes-then-fails", writes_then_fails)
    with pytest.raises(IntegrityError):  # tests see the error itself; a visitor gets the 500 page
        client.get("/test/writes-then-fails")
    assert _tag_names() == []


@pytest.mark.own_app  # adds a route
@pytest.mark.real_commits  # the request's own transaction, not a savepoint of the test's
def test_a_get_refused_after_writing_two_rows_saves_neither(app, client):
    def writes_then_refuses():
        db.session.add(Tag(name="First", name_key="first"))
        db.session.flush()
        db.session.add(Tag(name="Second", name_key="second"))
        db.session.flush()
        raise PermissionDenied("Not yours.")

    _route(app, "/test/writes-then-refuses", writes_then_refuses)
    assert client.get("/test/writes-then-refuses").status_code == 403
    assert _tag_names() == []


@pytest.mark.own_app  # adds a route
@pytest.mark.real_commits  # the request's own transaction, not a savepoint of the test's
def test_a_get_that_changes_what_it_read_saves_the_change_with_its_commit(app, client):
    db.session.add_all([Tag(name="Old one", name_key="one"), Tag(name="Old two", name_key="two")])
    db.session.commit()

    def renames():
        for tag in db.session.scalars(select(Tag)):
            tag.name = tag.name.replace("Old", "New")  # flushed by the request's commit
        return "renamed"

    _route(app, "/test/renames", renames)
    assert client.get("/test/renames").status_code == 200
    assert _tag_names() == ["New one", "New two"]


@pytest.mark.real_commits  # the pool's connections and their transactions themselves
def test_a_transaction_begun_deferred_rolls_back_its_writes_and_the_next_one_begins_as_usual(app):
    _needs_postgresql()
    db.session.remove()
    mode = begin_mode.set("DEFERRED")
    try:
        db.session.scalar(select(func.count(Tag.id)))
        assert not _in_transaction()
        db.session.execute(Tag.__table__.insert(), [{"name": "Gone", "name_key": "gone"}])
        assert _in_transaction()
        db.session.rollback()
        assert db.session.scalar(select(func.count(Tag.id))) == 0
        db.session.execute(select(Tag.id).with_for_update())  # a row lock lives in a transaction
        assert _in_transaction()
        db.session.rollback()
    finally:
        begin_mode.reset(mode)
    db.session.remove()
    db.session.scalar(select(func.count(Tag.id)))  # IMMEDIATE, on the same pooled connection
    assert _in_transaction(), "the connection went back to the pool out of autocommit"
    db.session.rollback()


@pytest.mark.real_commits  # the pool's connections and their transactions themselves
def test_rows_streamed_in_a_transaction_begun_deferred_are_read_in_a_transaction(app):
    _needs_postgresql()
    db.session.add_all([Tag(name=f"Tag {i}", name_key=f"tag-{i}") for i in range(3)])
    db.session.commit()
    db.session.remove()
    mode = begin_mode.set("DEFERRED")
    try:
        names = list(db.session.scalars(select(Tag.name).order_by(Tag.name),
                                        execution_options={"stream_results": True, "yield_per": 2}))
        assert names == ["Tag 0", "Tag 1", "Tag 2"]
    finally:
        db.session.rollback()
        begin_mode.reset(mode)


@pytest.mark.real_commits  # an engine of its own, on the test database
def test_where_statements_share_a_snapshot_a_transaction_begun_deferred_begins_at_once(app):
    _needs_postgresql()
    engine = create_engine(db.engine.url, connect_args={"options": "-c default_transaction_isolation=repeatable\\ read"})
    configure_postgresql_engine(engine)
    mode = begin_mode.set("DEFERRED")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            assert _in_transaction(connection), "REPEATABLE READ: the statements share one snapshot"
    finally:
        begin_mode.reset(mode)
        engine.dispose()


@pytest.mark.parametrize(("statement", "reads"), [
    ("SELECT leads.id FROM leads WHERE leads.updated_at > %(at)s", True),
    ("\n  select count(*) from tags", True),
    ("WITH ranked AS (SELECT id FROM leads) SELECT id FROM ranked", True),
    ("SELECT leads.id FROM leads FOR UPDATE SKIP LOCKED", False),
    ("SELECT stages.id FROM stages FOR NO KEY UPDATE", False),
    ("SELECT stages.id FROM stages FOR SHARE", False),
    ("WITH moved AS (UPDATE leads SET stage_id = 1 RETURNING id) SELECT id FROM moved", False),
    ("WITH insert_0 AS (INSERT INTO activities (lead_id) VALUES (1)) INSERT INTO audit_entries (x) VALUES (1)", False),
    ("SELECT nextval(pg_get_serial_sequence('leads', 'id')) FROM generate_series(1, 3)", False),
    ("SELECT pg_advisory_xact_lock(42)", False),
    ("SELECT id INTO new_table FROM leads", False),
    ("INSERT INTO tags (name, name_key) VALUES (%(name)s, %(key)s)", False),
    ("UPDATE api_tokens SET last_used_at = %(at)s", False),
    ("DELETE FROM tags", False),
    ("SAVEPOINT sa_savepoint_1", False),
    ("SET LOCAL jit = off", False),
    ("LOCK TABLE leads", False),
])
def test_only_statements_that_only_read_run_before_the_transaction_begins(statement, reads):
    assert only_reads(statement) is reads
