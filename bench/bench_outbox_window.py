"""The outbox's duplicate window: from the mail server accepting a message to "sent" committed.

A scheduler killed (kill -9, power loss) inside this window leaves a row "sending" for a
message the server has; the next sweep of another scheduler sends it again, with the same
Message-ID (docs/RELIABILITY.md, "E-mail delivery"). This script measures how long the window
is when nothing goes wrong. Run from the repository root (needs the test extras, for aiosmtpd):

    .venv/bin/python bench/bench_outbox_window.py                  # 200 messages on a new SQLite file
    .venv/bin/python bench/bench_outbox_window.py --database-url postgresql://postgres@127.0.0.1/lf_bench

It builds a fresh database (migrations applied), starts an SMTP server on loopback (aiosmtpd),
queues the messages and runs the outbox sweep as the scheduler does. The window of one message
starts when the server's DATA handler has the message, just before it answers "250" (the
moment the server takes responsibility for it) and ends when the commit that records it "sent" returns.
Each message also has its whole attempt timed (row marked "sending" → "sent" committed) for
comparison: a kill anywhere in the attempt outside the window sends nothing twice.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_alert import build_app  # noqa: E402  (the same app set-up)
from tests.servers import LoopbackSmtp  # noqa: E402  (the SMTP sink the tests use: notes when each message came)


def measure(app, server: LoopbackSmtp, count: int) -> tuple[list[float], list[float]]:
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
        started[attempt_id] = time.monotonic()
        return attempt_id

    def timed_record(attempt_id, run):
        record_sent(attempt_id, run)
        committed[attempt_id] = time.monotonic()

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
    with server.recorder.lock:  # the sink's clock is time.monotonic() too
        accepted = {message["X-LeadFlow-Attempt"]: at for _, message, at in server.recorder.received}
    windows = [committed[a] - accepted[a] for a in committed]
    attempts = [committed[a] - started[a] for a in committed]
    return windows, attempts


def row(name: str, seconds: list[float]) -> str:
    """A Markdown table row: how many, median, 95th percentile and longest, in milliseconds."""
    ms = [value * 1000 for value in seconds]
    p95 = statistics.quantiles(ms, n=20)[-1]
    return f"| {name} | {len(ms)} | {statistics.median(ms):.1f} ms | {p95:.1f} ms | {max(ms):.1f} ms |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="an empty database (default: a new SQLite file)")
    args = parser.parse_args()

    database_url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='leadflow-bench-')) / 'bench.sqlite3'}"
    server = LoopbackSmtp()
    server.start()
    try:
        windows, attempts = measure(build_app(database_url, server.port), server, args.messages)
    finally:
        server.stop()
    print(f"\n{database_url.split(':', 1)[0]}, {args.messages} messages, SMTP on loopback\n")
    print("| span | messages | median | p95 | longest |")
    print("|---|---|---|---|---|")
    print(row("server accepted → \"sent\" committed (the duplicate window)", windows))
    print(row("\"sending\" committed → \"sent\" committed (the whole attempt)", attempts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
