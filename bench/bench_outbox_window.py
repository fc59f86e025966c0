"""The outbox's duplicate window: from the mail server accepting a message to "sent" committed.

A scheduler killed (kill -9, power loss) inside this window leaves a row "sending" for a
message the server has; the next sweep of another scheduler sends it again, with the same
Message-ID (docs/RELIABILITY.md, "E-mail delivery"). This script measures how long the window
is when nothing goes wrong. Run from the repository root (needs the test extras, for aiosmtpd):

    .venv/bin/python bench/bench_outbox_window.py                  # 200 messages on a new SQLite file
    .venv/bin/python bench/bench_outbox_window.py --database-url postgresql://postgres@127.0.0.1/lf_bench

It builds a fresh database (migrations applied), starts an SMTP server on loopback (aiosmtpd),
queues the messages and runs the outbox sweep as the scheduler does. The window of one message
starts when the server's DATA handler has the message and returns its "250" (the moment the
server takes responsibility for it) and ends when the commit that records it "sent" returns.
Each message also has its whole attempt timed (row marked "sending" → "sent" committed) for
comparison: a kill anywhere in the attempt outside the window sends nothing twice.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("LEADFLOW_INSTANCE", tempfile.mkdtemp(prefix="leadflow-bench-"))


class Server:
    """An aiosmtpd handler that notes when it accepted each attempt (by its X-LeadFlow-Attempt)."""

    def __init__(self):
        self.accepted: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes
        from email.policy import default

        attempt = message_from_bytes(envelope.content, policy=default)["X-LeadFlow-Attempt"]
        with self.lock:
            self.accepted[attempt] = time.perf_counter()
        return "250 OK"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_app(database_url: str, smtp_port: int):
    from config import ProductionConfig, normalise_database_url
    from leadflow import create_app

    config = type("BenchConfig", (ProductionConfig,), {
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SECRET_KEY": "bench-only-secret-not-for-real-use-0123456789", "SCHEDULER_ENABLED": False,
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_port, "SMTP_STARTTLS": False, "SMTP_USER": None,
        "SMTP_PASSWORD": None, "MAIL_FROM": "LeadFlow <alerts@bench.example>",
    })
    return create_app(config)


def measure(app, server: Server, count: int) -> tuple[list[float], list[float]]:
    """(windows, whole attempts) in seconds, one of each per message."""
    from flask_migrate import downgrade, upgrade

    from leadflow.db import utcnow
    from leadflow.extensions import db
    from leadflow.mail import delivery
    from leadflow.mail.services import RenderedMail, enqueue_mail

    started: dict[str, float] = {}
    committed: dict[str, float] = {}
    start_attempt, record_sent = delivery._start_attempt, delivery._record_sent

    def timed_start(message_id, run):
        attempt_id = start_attempt(message_id, run)
        started[attempt_id] = time.perf_counter()
        return attempt_id

    def timed_record(attempt_id, run):
        record_sent(attempt_id, run)
        committed[attempt_id] = time.perf_counter()

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            downgrade(revision="base")
        upgrade()
        for n in range(count):
            enqueue_mail(to=f"rep{n}@example.com", kind="task_reminder", idempotency_key=f"bench:{n}",
                         mail=RenderedMail(f"Reminder {n}", "Call Ada back.", "<p>Call Ada back.</p>"))
        db.session.commit()
        delivery._start_attempt, delivery._record_sent = timed_start, timed_record
        try:
            sent = 0
            while sent < count:
                sent += delivery.deliver_outbox(utcnow())
                db.session.commit()
        finally:
            delivery._start_attempt, delivery._record_sent = start_attempt, record_sent
            db.session.remove()
    windows = [committed[a] - server.accepted[a] for a in committed]
    attempts = [committed[a] - started[a] for a in committed]
    return windows, attempts


def row(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[max(0, int(round(0.95 * len(ordered))) - 1)]
    return (f"| {name} | {len(ordered)} | {statistics.median(ordered) * 1000:.1f} ms | {p95 * 1000:.1f} ms | "
            f"{ordered[-1] * 1000:.1f} ms |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="an empty database (default: a new SQLite file)")
    args = parser.parse_args()

    from aiosmtpd.controller import Controller

    workdir = Path(tempfile.mkdtemp(prefix="leadflow-bench-window-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    server = Server()
    port = free_port()
    smtp = Controller(server, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        windows, attempts = measure(build_app(database_url, port), server, args.messages)
    finally:
        smtp.stop()
    print(f"\n{database_url.split(':', 1)[0]}, {args.messages} messages, SMTP on loopback\n")
    print("| span | messages | median | p95 | longest |")
    print("|---|---|---|---|---|")
    print(row("server accepted → \"sent\" committed (the duplicate window)", windows))
    print(row("\"sending\" committed → \"sent\" committed (the whole attempt)", attempts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
