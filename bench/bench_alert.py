"""New-lead alert latency: a lead submitted through a form → the alert accepted by an SMTP server.

Run from the repository root (needs the test extras, for aiosmtpd):

    .venv/bin/python bench/bench_alert.py                  # 20 submissions, with and without the nudge
    .venv/bin/python bench/bench_alert.py --submissions 10 --leads 1000
    .venv/bin/python bench/bench_alert.py --database-url postgresql://postgres@127.0.0.1/lf_bench

It builds a fresh database (a SQLite file unless ``--database-url`` is given), applies the
migrations, seeds the demo workspace, starts an SMTP server on loopback (aiosmtpd) and the
in-process scheduler exactly as a server process runs it (``leadflow.scheduler.runner``),
then submits leads one by one, each owned by a demo rep, through the path a capture-form
submission ends in: ``create_lead(..., channel="form")`` and the commit. The clock starts just
before the lead is created and stops when the SMTP server has accepted the owner's
"New lead" e-mail. Submissions are spaced by a random 0.1–10 s so they fall at every
point of the outbox sweep's 10 s cycle (a round of 20 takes about two minutes).

Two rounds:

* **nudged** (what the app does): the arrival step asks this process's scheduler to run the
  outbox sweep as soon as the lead's transaction commits;
* **tick only** (the nudge switched off): the alert waits for the outbox sweep's next
  interval run (every 10 s), the bound that holds when the lead was saved by another
  process (an API node without the scheduler, say).

The target (issue 5): every alert delivered within one minute of submission. The script
exits with status 1 when a delivery takes longer or does not arrive.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("LEADFLOW_INSTANCE", tempfile.mkdtemp(prefix="leadflow-bench-"))

TARGET_SECONDS = 60.0


class Inbox:
    """An aiosmtpd handler that notes when each subject arrived."""

    def __init__(self):
        self.arrived: dict[str, float] = {}
        self.condition = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes
        from email.policy import default

        subject = message_from_bytes(envelope.content, policy=default)["Subject"]
        with self.condition:
            self.arrived[subject] = time.perf_counter()
            self.condition.notify_all()
        return "250 OK"

    def wait(self, subject: str, timeout: float) -> float | None:
        deadline = time.perf_counter() + timeout
        with self.condition:
            while subject not in self.arrived:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self.condition.wait(left)
            return self.arrived[subject]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_app(database_url: str, smtp_port: int):
    from config import ProductionConfig, normalise_database_url
    from leadflow import create_app

    config = type("BenchConfig", (ProductionConfig,), {
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url), "SECRET_KEY": "bench-only-secret-not-for-real-use-0123456789", "RATELIMIT_ENABLED": False,
        "SCHEDULER_ENABLED": True, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_port, "SMTP_STARTTLS": False,
        "SMTP_USER": None, "SMTP_PASSWORD": None, "MAIL_FROM": "LeadFlow <alerts@bench.example>",
    })
    return create_app(config)


def prepare(app, lead_count: int) -> list[int]:
    from flask_migrate import downgrade, upgrade

    from leadflow.accounts.models import User
    from leadflow_demo import seed_demo
    from leadflow.extensions import db

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            downgrade(revision="base")
        upgrade()
        seed_demo(lead_count=lead_count)
        db.session.commit()
        reps = list(db.session.scalars(db.select(User.id).where(User.role == "rep", User.active.is_(True))))
        db.session.remove()
    return reps


def submit_and_time(app, inbox: Inbox, owners: list[int], count: int, label: str, rng: random.Random) -> list[float]:
    from leadflow.accounts.system import system_actor
    from leadflow.extensions import db
    from leadflow.leads.services import create_lead

    visitor = system_actor("Benchmark form")
    latencies = []
    for n in range(count):
        time.sleep(rng.uniform(0.1, 10.0))  # any point of the 10 s outbox cycle
        name = f"{label}{n}"
        with app.app_context():
            started = time.perf_counter()
            create_lead(visitor, {"first_name": "Visitor", "last_name": name, "email": f"{name.lower()}@visitor.example",
                               "owner_id": rng.choice(owners), "source": "web form"}, channel="form")
            db.session.commit()
            db.session.remove()
        arrived = inbox.wait(f"New lead: Visitor {name}", TARGET_SECONDS + 30)
        latencies.append(float("inf") if arrived is None else arrived - started)
    return latencies


def summary(name: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[max(0, int(round(0.95 * len(ordered))) - 1)]
    return (f"| {name} | {len(ordered)} | {statistics.median(ordered) * 1000:,.0f} ms | {p95 * 1000:,.0f} ms | "
            f"{ordered[-1] * 1000:,.0f} ms |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=20, help="leads per round")
    parser.add_argument("--leads", type=int, default=1000, help="demo leads seeded first")
    parser.add_argument("--database-url", default=None, help="an empty database (default: a new SQLite file)")
    args = parser.parse_args()

    from aiosmtpd.controller import Controller

    from leadflow.scheduler import runner

    workdir = Path(tempfile.mkdtemp(prefix="leadflow-bench-alert-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    inbox = Inbox()
    port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    app = build_app(database_url, port)
    print(f"Seeding {args.leads:,} demo leads on {database_url.split(':', 1)[0]} …", flush=True)
    owners = prepare(app, args.leads)
    rng = random.Random(5)
    runner.start_scheduler(app)
    try:
        time.sleep(1.0)  # the start-up catch-up run is over
        nudged = submit_and_time(app, inbox, owners, args.submissions, "Nudged", rng)
        real_nudge = runner.nudge
        runner.nudge = lambda *a, **k: False  # enqueue_mail looks it up at call time
        try:
            tick_only = submit_and_time(app, inbox, owners, args.submissions, "Tick", rng)
        finally:
            runner.nudge = real_nudge
    finally:
        runner.stop_scheduler(app)
        smtp.stop()

    print()
    print("| round | alerts | median | p95 | slowest |")
    print("|---|---|---|---|---|")
    print(summary("nudged (as the app runs)", nudged))
    print(summary("tick only (outbox sweep every 10 s)", tick_only))
    worst = max(nudged + tick_only)
    verdict = "met" if worst <= TARGET_SECONDS else "MISSED"
    print(f"\nTarget: every alert within {TARGET_SECONDS:.0f} s of submission — {verdict} "
          f"(slowest {worst:.1f} s).")
    return 0 if worst <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
