"""A scheduler process killed with kill -9 in the middle of a batch: another scheduler sends
the batch once its heartbeat is stale (three sweep intervals), not after the 5-minute lease."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.mail.delivery import LEASE_SECONDS, deliver_outbox
from leadflow.mail.models import OutboxMessage
from leadflow.scheduler.heartbeat import STALE_AFTER_SECONDS, SchedulerHeartbeat
from tests.databases import own_sqlite_app
from tests.mail.conftest import queue_message
from tests.servers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


class SilentServer:
    """Accepts connections and never says a word: a scheduler sending through it hangs with
    its batch claimed (as a scheduler does when it is killed mid-batch)."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.held.append(self.listener.accept()[0])
            except OSError:
                return

    def close(self):
        self.listener.close()
        for conn in self.held:
            conn.close()


def _claims() -> list[str | None]:
    db.session.expire_all()
    claims = db.session.scalars(db.select(OutboxMessage.claimed_by).order_by(OutboxMessage.id)).all()
    db.session.commit()  # hold no lock while the scheduler process works
    return claims


def test_a_killed_schedulers_batch_goes_out_once_as_soon_as_its_heartbeat_is_stale(tmp_path, smtp_server):
    silent = SilentServer()
    process = None
    # A database of its own, which the scheduler process and this test share.
    with own_sqlite_app(tmp_path, **smtp_server.app_config):
        env = {k: v for k, v in os.environ.items() if k not in ("FLASK_RUN_FROM_CLI", "TEST_DATABASE_URL")}
        env.update({"LEADFLOW_CONFIG": "production", "SECRET_KEY": "test-only-" + "k" * 40,
                    "DATABASE_URL": str(db.engine.url), "LEADFLOW_INSTANCE": str(tmp_path), "SMTP_HOST": "127.0.0.1",
                    "SMTP_PORT": str(silent.port), "SMTP_STARTTLS": "0", "SMTP_TIMEOUT_SECONDS": "300"})
        try:
            ids = [queue_message(key=f"alert:{n}", to=f"rep{n}@example.com") for n in range(3)]
            process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "leadflow", "scheduler"],
                                       cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while not all(_claims()) and time.monotonic() < deadline:
                time.sleep(0.2)
            claimant = _claims()[0]
            assert claimant and _claims() == [claimant] * 3, "the scheduler process did not claim the batch"
            process.kill()  # kill -9, mid-batch: waiting for the mail server's greeting
            process.wait(timeout=10)
            killed_at = utcnow()

            assert deliver_outbox(killed_at) == 0  # its heartbeat is still fresh: its claims stand
            assert smtp_server.messages == []
            assert db.session.get(SchedulerHeartbeat, claimant) is not None
            db.session.commit()
            taken_over = killed_at + timedelta(seconds=STALE_AFTER_SECONDS + 1)
            assert taken_over < killed_at + timedelta(seconds=LEASE_SECONDS)  # long before the lease runs out
            assert deliver_outbox(taken_over) == 3
            assert smtp_server.wait_for(3, 10)
            time.sleep(0.2)
            assert sorted(smtp_server.recipients()) == ["rep0@example.com", "rep1@example.com", "rep2@example.com"]
            db.session.expire_all()
            assert [db.session.get(OutboxMessage, i).state for i in ids] == ["sent"] * 3
        finally:
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            silent.close()
