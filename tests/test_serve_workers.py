"""Serving from several processes: rate limits kept in memory would be counted per process,
so the app refuses to start that way unless told to."""

from __future__ import annotations

import logging

import pytest

from leadflow.serving import MemoryRateLimitsInSeveralProcesses, check_rate_limit_storage, gunicorn_command

MEMORY = {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"}
REDIS = {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379"}


@pytest.mark.parametrize("environ", [{"LEADFLOW_WORKERS": "4"}, {"GUNICORN_CMD_ARGS": "--workers 3"},
                                     {"SERVER_SOFTWARE": "gunicorn/23.0.0"}])
def test_several_processes_with_memory_limits_are_refused(environ):
    with pytest.raises(MemoryRateLimitsInSeveralProcesses, match="RATELIMIT_STORAGE_URI=redis://"):
        check_rate_limit_storage(MEMORY, environ)


@pytest.mark.parametrize("config, environ", [
    (MEMORY, {}),  # one process (waitress): memory is right
    (MEMORY, {"LEADFLOW_WORKERS": "1"}),
    (REDIS, {"LEADFLOW_WORKERS": "4"}),
    ({**MEMORY, "RATELIMIT_ENABLED": False}, {"LEADFLOW_WORKERS": "4"}),
])
def test_one_process_or_shared_limits_start(config, environ):
    check_rate_limit_storage(config, environ)


def test_the_override_starts_but_warns_loudly(caplog):
    with caplog.at_level(logging.WARNING, logger="leadflow.serving"):
        check_rate_limit_storage(MEMORY, {"LEADFLOW_WORKERS": "4", "RATELIMIT_ALLOW_MEMORY": "1"})
    assert "each process would count sign-in attempts on its own" in caplog.text


def test_serve_with_workers_refuses_memory_limits_with_a_clear_message(app, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_ENABLED", True)
    monkeypatch.setitem(app.config, "RATELIMIT_STORAGE_URI", "memory://")
    monkeypatch.delenv("RATELIMIT_ALLOW_MEMORY", raising=False)
    monkeypatch.setenv("LEADFLOW_WORKERS", "1")  # the command sets it; restored after the test
    monkeypatch.setattr("os.execve", lambda *args: pytest.fail("gunicorn must not start"))
    result = app.test_cli_runner().invoke(args=["leadflow", "serve", "--workers", "3"])
    assert result.exit_code == 1
    assert "counts rate limits in memory" in result.output


def test_gunicorn_serves_the_wsgi_app_with_the_workers_asked_for():
    command = gunicorn_command(host="127.0.0.1", port=8100, workers=3, threads=4)
    assert command[1:3] == ["-m", "gunicorn"] and command[-1] == "wsgi:app"
    assert command[command.index("--workers") + 1] == "3"
    assert command[command.index("--bind") + 1] == "127.0.0.1:8100"
