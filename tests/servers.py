"""Helpers for tests that run a real server process (or an SMTP sink) on loopback."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_processes(processes, timeout: float = 10) -> None:
    """Ask every process to stop, then wait for each; one that does not stop in time is killed."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


REPO_ROOT = Path(__file__).resolve().parents[1]
# The surrounding run's database and Flask settings must not reach a server a test starts.
SCRUBBED_ENV = ("DATABASE_URL", "TEST_DATABASE_URL", "SQLALCHEMY_DATABASE_URI", "FLASK_APP", "FLASK_DEBUG",
                "FLASK_RUN_FROM_CLI", "TRUST_PROXY", "TRUSTED_PROXY", "SESSION_COOKIE_SECURE", "SMTP_HOST")


def production_env(instance: Path, database_url: str | None = None, **settings) -> dict:
    """The environment of a production LeadFlow process on ``database_url`` (default: a SQLite
    file in ``instance``), with the scheduler off unless ``settings`` turn it on."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update({"LEADFLOW_CONFIG": "production", "SECRET_KEY": secrets.token_hex(32),
                "LEADFLOW_INSTANCE": str(instance),
                "DATABASE_URL": database_url or f"sqlite:///{instance / 'leadflow.sqlite3'}",
                "SCHEDULER_ENABLED": "0", "PYTHONUNBUFFERED": "1"})
    env.update({key: str(value) for key, value in settings.items()})
    return env


def flask_cli(args: list[str], env: dict, check: bool = True) -> subprocess.CompletedProcess:
    """``flask --app wsgi ARGS`` in a process of its own."""
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    if check:
        assert result.returncode == 0, f"flask {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def start_leadflow(env: dict, log_path: Path, threads: int = 4, timeout: float = 60) -> tuple[subprocess.Popen, int]:
    """``flask --app wsgi leadflow serve`` on a free loopback port → (process, port) once it listens."""
    port = free_port()
    log = open(log_path, "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "leadflow", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--threads", str(threads)],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.2)
    stop_processes([process])
    raise AssertionError(f"the server did not listen within {timeout}s:\n{log_path.read_text()}")
