"""Shared fixtures: an app on a real database per test, clients, sign-in, factories.

The schema comes from the Alembic migrations once per run; each test starts with
empty tables. SQLite (a temporary file) by default; PostgreSQL when
``TEST_DATABASE_URL`` or ``DATABASE_URL`` points at one (``.ci/run`` does).
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager

import pytest
from flask import has_app_context
from flask.testing import FlaskClient
from jinja2 import BytecodeCache
from sqlalchemy import event

from config import TestConfig, normalise_database_url
from leadflow import create_app
from leadflow.extensions import db

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


class _SharedBytecodeCache(BytecodeCache):
    """Compiled templates shared by every test's app (keyed by source checksum, so an edited
    template is compiled again): each test builds a new app, and compiling every template
    again for each would be most of the suite's time."""

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
    test made is committed so the request sees it (and the test holds no lock); after
    it, the test's objects are expired so they show what the database now holds.
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


@pytest.fixture
def app(database_url):
    config = type("PerTestConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": database_url})
    app = create_app(config)
    app.test_client_class = RequestScopedClient
    app.jinja_env.bytecode_cache = _TEMPLATE_CACHE
    with app.app_context():
        yield app
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.engine.dispose()


@pytest.fixture
def make_app(app, database_url):
    """``make_app(RATELIMIT_ENABLED=True, ...)``: another app on the same test database with
    config overrides, for tests of settings the default ``app`` leaves off. Data made through
    the default ``app`` (and committed) is visible to it; the tables are emptied as usual."""
    made = []

    def _make(**overrides):
        config = type("OverrideConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": database_url, **overrides})
        other = create_app(config)
        other.test_client_class = RequestScopedClient
        other.jinja_env.bytecode_cache = _TEMPLATE_CACHE
        made.append(other)
        return other

    yield _make
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class CsrfClient:
    """Wraps a test client: every unsafe request carries the CSRF header like htmx sends it."""

    def __init__(self, client, htmx: bool = False):
        self.client = client
        self.htmx = htmx

    def token(self) -> str:
        response = self.client.get("/account")
        match = re.search(r'"X-CSRFToken": "([^"]+)"', response.get_data(as_text=True))
        assert match, "no CSRF token in the page"
        return match.group(1)

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
                               headers={"X-CSRFToken": _anonymous_token(client)})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return user, CsrfClient(client, htmx=htmx)

    return _login


def _anonymous_token(client) -> str:
    page = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'"X-CSRFToken": "([^"]+)"', page)
    assert match, "login page has no CSRF token"
    return match.group(1)


@pytest.fixture
def count_queries(app):
    """``with count_queries() as queries: …`` then ``len(queries)``."""

    @contextmanager
    def _count():
        statements: list[str] = []

        def before(conn, cursor, statement, parameters, context, executemany):
            if not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
                statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", before)
        try:
            yield statements
        finally:
            event.remove(db.engine, "before_cursor_execute", before)

    return _count
