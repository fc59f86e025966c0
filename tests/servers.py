"""Helpers for tests that run a real server process (or an SMTP sink) on loopback."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
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


def start_leadflow(env: dict, log_path: Path, threads: int = 4, timeout: float = 60,
                   options: tuple[str, ...] = ()) -> tuple[subprocess.Popen, int]:
    """``flask --app wsgi leadflow serve [options]`` on a free loopback port → (process, port) once it listens."""
    port = free_port()
    log = open(log_path, "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "leadflow", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--threads", str(threads), *options],
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


class _Recorder:
    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.received: list[tuple[list[str], EmailMessage, float]] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)

    async def handle_DATA(self, server, session, envelope):
        if self.delay:  # a server that takes its time before it accepts the message
            await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.content, policy=default_policy)
        with self.arrived:
            self.received.append((list(envelope.rcpt_tos), message, time.monotonic()))
            self.arrived.notify_all()
        return "250 Message accepted for delivery"


class LoopbackSmtp:
    """``messages`` are what the server accepted; ``stop()`` makes it refuse connections
    (SMTP down), ``start()`` brings it back on the same port; ``with LoopbackSmtp() as sink``
    starts it and stops it at the end. ``delay``: seconds it takes
    over each message before accepting it."""

    def __init__(self, delay: float = 0.0):
        self.port = free_port()
        self.recorder = _Recorder(delay)
        self.controller = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self) -> LoopbackSmtp:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self.recorder.lock:
            return [message for _, message, _ in self.recorder.received]

    def recipients(self) -> list[str]:
        with self.recorder.lock:
            return [to for tos, _, _ in self.recorder.received for to in tos]

    def wait_for(self, count: int, timeout: float) -> float | None:
        """Wait until ``count`` messages arrived; the monotonic time the last one came, or None."""
        deadline = time.monotonic() + timeout
        with self.recorder.arrived:
            while len(self.recorder.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.recorder.arrived.wait(left)
            return self.recorder.received[count - 1][2]
