"""A scheduler process killed with kill -9 in the middle of a batch, on the test database
(SQLite or PostgreSQL): one message of its batch went out and was recorded, one was in the
server's hands without an answer yet, one was only claimed. Once its heartbeat is stale
(three sweep intervals, not the 5-minute lease) another scheduler sends the other two: every
message arrives, and the only copy that can arrive twice is the one in flight at the kill,
with one Message-ID."""

from __future__ import annotations

import pytest

import asyncio
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.mail.delivery import LEASE_SECONDS, deliver_outbox, mail_domain
from leadflow.mail.models import OutboxMessage
from leadflow.scheduler.heartbeat import STALE_AFTER_SECONDS, SchedulerHeartbeat
from tests.mail.conftest import queue_message
from tests.servers import REPO_ROOT, LoopbackSmtp, _Recorder, production_env


class _AnswersAllButTheSecond(_Recorder):
    """Keeps every message it receives, and never answers the second one: its sender waits with
    the message in the server's hands and its row "sending" (as when a scheduler is killed
    between the server accepting a message and recording it)."""

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        if len(self.received) == 2:
            await asyncio.sleep(3600)  # cancelled when the server stops
        return answer


def _states(ids) -> list[str]:
    db.session.expire_all()
    states = [db.session.get(OutboxMessage, i).state for i in ids]
    db.session.commit()  # hold no lock while the scheduler process works
    return states


def _claimants(ids) -> list[str | None]:
    db.session.expire_all()
    claimants = [db.session.get(OutboxMessage, i).claimed_by for i in ids]
    db.session.commit()
    return claimants


@pytest.mark.real_commits  # schedulers in processes of their own on the test database
def test_a_scheduler_killed_mid_batch_loses_no_message_and_doubles_only_the_one_in_flight(
        app, database_url, smtp_server, tmp_path):
    holding = LoopbackSmtp()
    holding.recorder = _AnswersAllButTheSecond()
    holding.start()
    env = production_env(tmp_path, database_url, SCHEDULER_ENABLED="1", SMTP_HOST="127.0.0.1", SMTP_PORT=holding.port,
                         SMTP_STARTTLS="0", SMTP_TIMEOUT_SECONDS="300", MAIL_FROM=app.config["MAIL_FROM"])
    process = None
    try:
        ids = [queue_message(key=f"alert:{n}", to=f"rep{n}@example.com") for n in range(3)]
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "leadflow", "scheduler"],
                                   cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while _states(ids) != ["sent", "sending", "queued"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _states(ids) == ["sent", "sending", "queued"], "the scheduler process did not get mid-batch"
        claimant = _claimants(ids)[1]
        assert claimant and _claimants(ids)[1:] == [claimant] * 2
        # "sending" is written before the message is handed over: wait until the server holds it.
        assert holding.wait_for(2, 60), "the second message never reached the server"
        process.kill()  # kill -9, while the server holds the second message unanswered
        process.wait(timeout=10)
        killed_at = utcnow()
        in_flight = [i for i, state in zip(ids, _states(ids)) if state == "sending"]

        assert deliver_outbox(killed_at) == 0  # its heartbeat is still fresh: its claims stand
        assert smtp_server.messages == []
        assert db.session.get(SchedulerHeartbeat, claimant) is not None
        db.session.commit()
        taken_over = killed_at + timedelta(seconds=STALE_AFTER_SECONDS + 1)
        assert taken_over < killed_at + timedelta(seconds=LEASE_SECONDS)  # long before the lease runs out
        assert deliver_outbox(taken_over) == 2  # the one in flight again, and the one never started
        assert smtp_server.wait_for(2, 10)
        for later in (LEASE_SECONDS + 1, 3600):
            assert deliver_outbox(killed_at + timedelta(seconds=later)) == 0
        time.sleep(0.2)

        assert _states(ids) == ["sent"] * 3
        arrived = holding.messages + smtp_server.messages
        message_ids = {i: db.session.get(OutboxMessage, i).message_id(mail_domain()) for i in ids}
        copies = Counter(message["Message-ID"] for message in arrived)
        assert set(copies) == set(message_ids.values())  # every message arrived, none is missing
        doubled = {message_id for message_id, count in copies.items() if count > 1}
        # At most one extra copy per message in flight at the kill, with its Message-ID and a new attempt id.
        assert doubled <= {message_ids[i] for i in in_flight} and all(copies[m] == 2 for m in doubled)
        assert len(doubled) == 1  # this server did have the message in flight: its recipient gets it twice
        [first, again] = [message for message in arrived if message["Message-ID"] in doubled]
        assert first["X-LeadFlow-Attempt"] != again["X-LeadFlow-Attempt"]
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        holding.stop()
