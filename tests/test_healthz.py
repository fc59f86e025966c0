"""/healthz: what a load balancer or a monitor reads to know whether a node can serve."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.scheduler.heartbeat import STALE_AFTER_SECONDS, beat


@pytest.fixture
def expect_scheduler(app):
    app.config["HEALTHZ_EXPECT_SCHEDULER"] = True
    yield
    app.config["HEALTHZ_EXPECT_SCHEDULER"] = False


def test_healthy_with_a_fresh_heartbeat_and_no_sign_in(client, expect_scheduler):
    beat(utcnow() - timedelta(seconds=4), "node-a:1:x")
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["database"] == "ok"
    assert body["scheduler"]["ok"] is True
    assert 4 <= body["scheduler"]["last_beat_seconds_ago"] <= 6
    assert response.headers["Cache-Control"] == "no-store"
    assert set(body) == {"database", "scheduler"}  # nothing else: no versions, no settings


def test_stale_or_missing_heartbeat_is_503_when_a_scheduler_is_expected(client, expect_scheduler):
    assert client.get("/healthz").status_code == 503  # no scheduler ever beat
    beat(utcnow() - timedelta(seconds=STALE_AFTER_SECONDS + 5), "node-a:1:x")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["scheduler"]["ok"] is False
    assert response.get_json()["scheduler"]["last_beat_seconds_ago"] >= STALE_AFTER_SECONDS + 5


def test_without_an_expected_scheduler_the_database_alone_decides(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["scheduler"] == {"ok": False, "expected": False, "last_beat_seconds_ago": None}


def test_database_down_is_503_not_a_500(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(db.session, "execute", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"
    assert "connection refused" not in response.get_data(as_text=True)

