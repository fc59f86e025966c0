"""Shared fixtures: an app on a real database, clients, sign-in, factories.

The schema comes from the Alembic migrations once per run. SQLite (a temporary file) by
default; PostgreSQL when ``TEST_DATABASE_URL`` or ``DATABASE_URL`` points at one (``.ci/run``
does).

One app serves the whole run (``create_app`` costs more than most tests): ``app`` puts back
what a test changed in it (settings, instance folder, extensions, the rate limiter's state
and counts), and each test runs in an app context of its own.

Each test starts with empty tables because everything it writes is rolled back: the test
holds one connection in an outer transaction, and every session that asks for the test's
engine from the test's thread (the test's own, each request's, those of ``make_app`` apps)
works on that connection in a SAVEPOINT, so the app's commits, rollbacks and nested
transactions behave as usual (SQLAlchemy's "joining a session into an external transaction";
SQLite's BEGIN is already the app's own, see ``leadflow.db.configure_sqlite_engine``). The
import's raw-SQL writer works on the session's connection, so imports are rolled back too.

Tests marked ``real_commits`` commit for real and the tables are emptied after them instead:
those whose writes another connection must see or make — threads (``tests.concurrency``,
concurrent requests, schedulers), other processes (import workers and schedulers killed with
kill -9, ``pg_dump``), raw SQL or a migration run on connections of their own
(``db.engine.begin()``), ``engine.dispose()`` (a big demo seed), a backup of the database
file, and SQLite's locking itself (busy databases, BEGIN modes, ``tests/test_schema.py``,
``tests/test_retry.py``). Each marker says why. ``own_app`` tests change the app itself (add
routes) and get an app of their own.

Tests that start LeadFlow processes on a SQLite file of their own copy ``sqlite_at_head``, a
file migrated once per run in this process, instead of each running ``flask db upgrade`` in a
process of its own (seconds of CPU each; ``tests/scheduler/test_runner.py`` still runs that
command for real).

A set-up that costs more than the tests reading it (a demo seed of 200 leads) can be made once
for a class of tests with ``shared_rows``: its rows are committed for real before the class,
each test still runs rolled back on top of them, and the tables are emptied after the class.

CSRF stays on: ``CsrfClient`` and ``login_as`` send the token a page would carry, made
from the client's session cookie (``csrf_token``) instead of fetching a page for it.
"""

from __future__ import annotations

import os
import shutil
import threading
from contextlib import contextmanager

import pytest
from flask import Flask, has_app_context
from flask.ctx import RequestContext
from flask.testing import EnvironBuilder, FlaskClient
from flask_sqlalchemy.session import Session as FlaskSQLAlchemySession
from flask_wtf.csrf import generate_csrf
from jinja2 import BytecodeCache
from sqlalchemy import event

from config import TestConfig, normalise_database_url
from leadflow import create_app
from leadflow import db as leadflow_db
from leadflow.extensions import db, limiter
from leadflow.web import refcache

from tests import factories

TEST_PASSWORD = "correct horse battery staple"


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        return normalise_database_url(url)
    path = tmp_path_factory.mktemp("db") / "leadflow-test.sqlite3"
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = _database_url(tmp_path_factory)
    config = type("SchemaConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url})
    app = create_app(config)
    with app.app_context():
        from flask_migrate import downgrade, upgrade

        if url.startswith("postgresql"):
            downgrade(revision="base")  # a stale schema from an earlier run never leaks in
        upgrade()
        db.engine.dispose()
    return url


@pytest.fixture(scope="session")
def sqlite_at_head(tmp_path_factory):
    """``sqlite_at_head(path)`` puts a SQLite database at the migrations' head at ``path`` (a copy
    of one migrated once per run), as ``flask db upgrade`` would make it there."""
    from tests.databases import own_sqlite_app

    directory = tmp_path_factory.mktemp("sqlite-at-head")
    with own_sqlite_app(directory):
        pass
    template = directory / "own.sqlite3"

    def _copy(path):
        shutil.copyfile(template, path)
        return path

    return _copy


class _SharedBytecodeCache(BytecodeCache):
    """Compiled templates shared by every app of the run (keyed by source checksum, so an
    edited template is compiled again): ``make_app`` and ``own_app`` tests build apps of
    their own, and compiling every template again for each would be most of their time."""

    def __init__(self):
        self._store: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        data = self._store.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket):
        self._store[bucket.key] = bucket.bytecode_to_string()


_TEMPLATE_CACHE = _SharedBytecodeCache()


class RequestScopedClient(FlaskClient):
    """A test client whose requests behave as in production although the test holds an
    app context open around them.

    Each request runs in an app context of its own, so ``g`` (where Flask-Login keeps
    the signed-in user) and ``db.session`` start empty, as in a real request: one
    client's sign-in never leaks into another's request. Before a request, what the
    test made is committed so the request sees it (and, in a ``real_commits`` test, the
    test holds no lock); after it, the test's objects are expired so they show what the
    database now holds.
    """

    def open(self, *args, **kwargs):
        outer = db.session() if has_app_context() else None
        if outer is not None:
            outer.commit()
        try:
            with self.application.app_context():
                return super().open(*args, **kwargs)
        finally:
            if outer is not None:
                outer.rollback()


def _build_app(database_url: str, **overrides) -> Flask:
    config = type("TestAppConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": database_url, **overrides})
    built = create_app(config)
    built.test_client_class = RequestScopedClient
    built.jinja_env.bytecode_cache = _TEMPLATE_CACHE
    return built


@pytest.fixture(scope="session")
def session_app(database_url):
    """The one app of the run (``create_app`` costs more than most tests); ``app`` puts back
    what a test changes in it."""
    built = _build_app(database_url)
    yield built
    with built.app_context():
        db.session.remove()
        db.engine.dispose()


class _JoinedSession(FlaskSQLAlchemySession):
    """``db.session`` of every app context: while a test runs in a rolled-back transaction,
    a session asking for that test's engine gets the test's connection instead (from the
    test's own thread only: another thread gets a connection of its own, and on SQLite waits
    for the test's write lock — a test with threads needs ``real_commits``)."""

    def get_bind(self, *args, **kwargs):
        bind = super().get_bind(*args, **kwargs)
        joined = _JOINED.get(bind)
        if joined is not None and joined[1] == threading.get_ident():
            return joined[0]
        return bind


# engine -> (the test's connection, the test's thread)
_JOINED: dict = {}
db.session.session_factory.class_ = _JoinedSession
# A session on the test's connection works in a SAVEPOINT: its commit releases it, its
# rollback goes back to it, and the test's outer transaction is rolled back at the end.
db.session.session_factory.configure(join_transaction_mode="create_savepoint")


@contextmanager
def _rolled_back(engine):
    """Everything ``engine``'s sessions write in this block, on one connection in one
    transaction that is rolled back on the way out."""
    connection = engine.connect()
    outer = connection.begin()
    _JOINED[engine] = (connection, threading.get_ident())
    try:
        yield connection
    finally:
        _JOINED.clear()
        if outer.is_active:
            outer.rollback()
        connection.close()
        # What the test "committed" is gone, its version bumps too: answers kept at those
        # versions would meet the next test's bumps (a real commit is never taken back).
        refcache.forget()


def _empty_tables() -> None:
    db.session.remove()
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            if table.name != "reference_versions":  # the counters the triggers keep (web/refcache.py)
                conn.execute(table.delete())
    db.engine.dispose()


@contextmanager
def _state_put_back(app: Flask):
    """What a test may change in the shared app: its settings, instance folder and
    extensions (a scheduler it started is stopped)."""
    config, instance_path, extensions = dict(app.config), app.instance_path, dict(app.extensions)
    try:
        yield
    finally:
        from leadflow.scheduler.runner import stop_scheduler

        stop_scheduler(app, wait=True)
        app.config.clear()
        app.config.update(config)
        app.instance_path = instance_path
        app.extensions.clear()
        app.extensions.update(extensions)


@contextmanager
def _limiter_put_back():
    """The rate limiter is one module-level object that every ``create_app`` sets up again
    (``make_app(RATELIMIT_ENABLED=True)`` turns it on): its state is put back, counts cleared."""
    state = dict(vars(limiter))
    try:
        yield
    finally:
        vars(limiter).clear()
        vars(limiter).update(state)
        if limiter.enabled and limiter.initialized:
            limiter.reset()


def _real_commits(request) -> bool:
    return request.node.get_closest_marker("real_commits") is not None


@pytest.fixture
def app(request, database_url):
    """The app, inside its app context. Its sessions (the test's and each request's) write
    in a transaction rolled back after the test, unless the test is ``real_commits`` (then
    they commit and the tables are emptied after it). An ``own_app`` test gets an app of
    its own instead of the shared one."""
    own = request.node.get_closest_marker("own_app") is not None
    with _limiter_put_back():
        the_app = _build_app(database_url) if own else request.getfixturevalue("session_app")
        with _state_put_back(the_app), the_app.app_context():
            yield from _test_transaction(request, the_app)
            if own:
                db.session.remove()
                db.engine.dispose()


def _test_transaction(request, the_app):
    """Yields ``the_app`` (its app context pushed) for the test; the test's writes are then
    rolled back, or, for ``real_commits``, the tables emptied."""
    if _real_commits(request):
        yield the_app
        _empty_tables()
    else:
        with _rolled_back(db.engine):
            yield the_app
            db.session.remove()


def shared_rows(make):
    """A class-scoped fixture for a class of tests that only read what ``make()`` writes:
    ``make()`` runs once, in an app context of the shared app, and its rows are committed for
    real; each test of the class runs rolled back on top of them as usual (a test's own writes
    never reach the next), and the tables are emptied after the last test of the class. The
    fixture's value is ``make()``'s, with its session closed: tests read rows again through
    ``app``. A class, not a module: pytest ends a class fixture after the class's last test,
    so the module's other tests still start with empty tables."""

    @pytest.fixture(scope="class")
    def _shared(session_app):
        with session_app.app_context():
            try:
                made = make()
                db.session.commit()
            except BaseException:
                _empty_tables()
                raise
            db.session.remove()
        yield made
        with session_app.app_context():
            _empty_tables()

    return _shared


@pytest.fixture
def make_app(app, database_url):
    """``make_app(RATELIMIT_ENABLED=True, ...)``: another app on the same test database with
    config overrides, for tests of settings the default ``app`` leaves off. It sees what the
    test made through ``app``: its sessions join the test's transaction (or, in a
    ``real_commits`` test, it sees what was committed)."""
    made = []

    def _make(**overrides):
        other = _build_app(database_url, **overrides)
        made.append(other)
        with app.app_context():
            joined = _JOINED.get(db.engine)
        if joined is not None:
            with other.app_context():
                _JOINED[db.engine] = joined
        return other

    yield _make
    for other in made:
        with other.app_context():
            _JOINED.pop(db.engine, None)
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_token(client) -> str:
    """The CSRF token a page would give this client: Flask-WTF's ``generate_csrf`` run
    against the session in the client's cookie, without fetching a page. A session without
    a CSRF secret yet gets one, saved to the cookie as a page view would."""
    app = client.application
    with client.session_transaction() as session, app.app_context():  # a g of its own: the token is kept in g
        with RequestContext(app, EnvironBuilder(app).get_environ(), session=session):
            return generate_csrf()


class CsrfClient:
    """Wraps a test client: every unsafe request carries the CSRF header like htmx sends it.
    The token is made again only when the client's session cookie changed."""

    def __init__(self, client, htmx: bool = False):
        self.client = client
        self.htmx = htmx
        self._token: tuple[str | None, str] | None = None  # (session cookie, token)

    def token(self) -> str:
        if self._token is None or self._token[0] != _session_cookie(self.client):
            token = csrf_token(self.client)
            self._token = (_session_cookie(self.client), token)
        return self._token[1]

    def _headers(self, headers, unsafe: bool):
        headers = dict(headers or {})
        if self.htmx:
            headers.setdefault("HX-Request", "true")
        if unsafe:
            headers.setdefault("X-CSRFToken", self.token())
        return headers

    def get(self, url, headers=None, **kw):
        return self.client.get(url, headers=self._headers(headers, False), **kw)

    def post(self, url, headers=None, **kw):
        return self.client.post(url, headers=self._headers(headers, True), **kw)

    def delete(self, url, headers=None, **kw):
        return self.client.delete(url, headers=self._headers(headers, True), **kw)


def _session_cookie(client) -> str | None:
    cookie = client.get_cookie(client.application.config["SESSION_COOKIE_NAME"])
    return cookie.value if cookie is not None else None


@pytest.fixture
def make_user(app):
    return factories.make_user


@pytest.fixture
def make_lead(app):
    return factories.make_lead


@pytest.fixture
def make_org(app):
    return factories.make_org


@pytest.fixture
def login_as(app, client):
    """``login_as("rep")`` creates a user with that role, signs the client in and returns
    ``(user, CsrfClient)``; ``login_as(user)`` signs in an existing user."""

    def _login(role_or_user="admin", htmx: bool = False, **user_fields):
        user = role_or_user if not isinstance(role_or_user, str) else factories.make_user(role=role_or_user, **user_fields)
        db.session.commit()
        response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD},
                               headers={"X-CSRFToken": csrf_token(client)})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return user, CsrfClient(client, htmx=htmx)

    return _login


class Statements(list):
    """The statements run, in order; ``riding``: those among them that went in the round trip
    of the next statement (a ``RidingCheck``), not in one of their own."""

    def __init__(self):
        super().__init__()
        self.riding: list[str] = []


@pytest.fixture
def count_queries(app):
    """``with count_queries() as queries: …`` then ``len(queries)``."""

    @contextmanager
    def _count():
        statements = Statements()

        def before(conn, cursor, statement, parameters, context, executemany):
            if not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
                statements.append(statement)

        def alone(check, *args):
            statements.append(check.sql)
            return run_alone(check, *args)

        def riding(cursor, statement, parameters, begin, check, commit=False):
            if check is not None:
                statements.append(check.sql)
                statements.riding.append(check.sql)
            return run_with(cursor, statement, parameters, begin, check, commit)

        # A ``RidingCheck`` (PostgreSQL) is sent by the driver, unseen by SQLAlchemy's events.
        run_alone, run_with = leadflow_db._run_check_alone, leadflow_db._run_in_one_round_trip
        leadflow_db._run_check_alone, leadflow_db._run_in_one_round_trip = alone, riding
        event.listen(db.engine, "before_cursor_execute", before)
        try:
            yield statements
        finally:
            event.remove(db.engine, "before_cursor_execute", before)
            leadflow_db._run_check_alone, leadflow_db._run_in_one_round_trip = run_alone, run_with

    return _count
