from __future__ import annotations

import pytest

from leadflow.accounts.system import system_actor
from leadflow.api.services import create_token
from leadflow.extensions import db
from leadflow.pipeline.services import ensure_default_pipeline


@pytest.fixture
def make_token(app, make_user):
    """``make_token(role="rep", scopes="read,write")`` → (token row, plain token, user)."""

    def _make(role: str = "rep", scopes="read,write", user=None, name="Test program"):
        ensure_default_pipeline()
        user = user or make_user(role=role)
        token, plain = create_token(system_actor("Test setup"), user=user, name=name, scopes=scopes)
        db.session.commit()
        return token, plain, user

    return _make


@pytest.fixture
def api(app, client, make_token):
    """An API client: ``api.post(path, json=...)`` with the bearer token of a rep (read, write)."""

    class Api:
        def __init__(self):
            self.token, self.plain, self.user = make_token()

        def headers(self, extra=None, plain=None):
            return {"Authorization": f"Bearer {plain or self.plain}", **(extra or {})}

        def get(self, path, headers=None, **kw):
            return client.get(path, headers=self.headers(headers), **kw)

        def post(self, path, headers=None, **kw):
            return client.post(path, headers=self.headers(headers), **kw)

    return Api()
