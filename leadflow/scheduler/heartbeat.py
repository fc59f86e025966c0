"""Scheduler heartbeats: which scheduler processes are alive, kept in the database.

Every scheduler process has an id (``host:pid:random``) and a row in
``scheduler_heartbeats`` whose ``beat_at`` each outbox sweep renews (in the transaction of
its claim, so no extra commit; also as each attempt starts, and between the tries of a write
the database refused). Rows a process claims name it (``claimed_by``); once its heartbeat is
older than ``STALE_AFTER_SECONDS`` (three outbox sweep intervals), any other scheduler may
take those rows over, instead of waiting for their lease to run out, and sends again the
messages it was in the middle of sending (``leadflow.mail.delivery.settle_interrupted``).

Work that runs longer than one of its steps (a job of ``leadflow.jobs``: an import, a
rescore, in a thread of a scheduler or of a command) beats with ``keep_beating``: a thread of its process
renews the claimant's row every ``BEAT_EVERY_SECONDS`` for as long as the work runs,
however long one step takes, and stops with the process.

Taking over is safe even when the "dead" process is only slow: every later write of the
first claimant is conditional on its claim (the lease it set) or its attempt id, so it finds
the rows gone and leaves them alone. The one cost: a message such a process had handed to the
server and not yet recorded goes out twice, with one Message-ID.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import String, and_, delete, exists, select, update
from sqlalchemy.orm import Mapped, mapped_column

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db
from leadflow.scheduler.claims import insert_or_ignore

log = logging.getLogger(__name__)
BEAT_EVERY_SECONDS = 10  # the outbox sweep's interval: it beats on every run
STALE_AFTER_SECONDS = 3 * BEAT_EVERY_SECONDS
FORGET_AFTER = timedelta(days=1)  # rows of processes gone this long are deleted


class SchedulerHeartbeat(db.Model):
    """One row per scheduler process; ``beat_at`` is when it last showed it was alive."""

    __tablename__ = "scheduler_heartbeats"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


_identity: tuple[int, str] | None = None


def scheduler_id() -> str:
    """This process's id; a forked child gets its own."""
    global _identity
    if _identity is None or _identity[0] != os.getpid():
        _identity = (os.getpid(), f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}")
    return _identity[1]


def beat(now: datetime, who: str | None = None) -> str:
    """Record that this scheduler is alive at ``now``, in the caller's transaction; returns its id."""
    who = who or scheduler_id()
    table = SchedulerHeartbeat.__table__
    if insert_or_ignore(SchedulerHeartbeat, {"id": who, "started_at": now, "beat_at": now},
                        unique_columns=["id"]) is None:
        db.session.execute(update(table).where(table.c.id == who, table.c.beat_at < now).values(beat_at=now))
    return who


def forget_gone(now: datetime) -> None:
    db.session.execute(delete(SchedulerHeartbeat.__table__).where(SchedulerHeartbeat.beat_at < now - FORGET_AFTER))


def claimant_is_gone(claimed_by, now: datetime, *, lease_until=None, lease_seconds: float | None = None):
    """SQL: the row's claimant has no heartbeat newer than ``STALE_AFTER_SECONDS``.

    With ``lease_until`` and ``lease_seconds`` (a claim's takeover: the row's lease column and
    the length its claimant gives a lease), also: that lease was taken or last renewed more
    than ``STALE_AFTER_SECONDS`` ago. A claimant beats whenever it takes or renews a lease, so
    this adds no wait for a dead one; it stops a live one being taken for dead. On PostgreSQL
    a claim that meets a row another claim has just committed checks that row again as it now
    is, but reads the heartbeats as they were when its statement began: without the new
    claimant's first beat, written in the same transaction as its claim.
    """
    fresh = select(SchedulerHeartbeat.id).where(
        and_(SchedulerHeartbeat.id == claimed_by,
             SchedulerHeartbeat.beat_at >= now - timedelta(seconds=STALE_AFTER_SECONDS)))
    gone = and_(claimed_by.is_not(None), ~exists(fresh))
    if lease_until is not None:
        gone = and_(gone, lease_until < now + timedelta(seconds=lease_seconds - STALE_AFTER_SECONDS))
    return gone


@contextmanager
def keep_beating(who: str) -> Iterator[None]:
    """While the block runs, beat ``who`` every ``BEAT_EVERY_SECONDS`` from a thread of this
    process, each beat in a short transaction of its own.

    The claimant's row then stays fresh for as long as its process lives, whatever the block
    is doing (a long chunk, a wait for another process), and goes stale within
    ``STALE_AFTER_SECONDS`` once the process dies. The caller beats once itself when it
    claims, in the claim's transaction, so no claim is ever without a fresh row. A beat that
    fails (a busy database) is tried again at the next one. The row is left behind
    (``forget_gone`` removes it).
    """
    app = current_app._get_current_object()
    interval = BEAT_EVERY_SECONDS
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(interval):
            with app.app_context():
                try:
                    beat(utcnow(), who)
                    db.session.commit()
                except Exception as exc:  # the next beat tries again; the lease still bounds the claim
                    db.session.rollback()
                    log.warning("Could not renew the heartbeat of %s (%s); trying again in %s s",
                                who, type(exc).__name__, interval)
                finally:
                    db.session.remove()

    threading.Thread(target=run, name=f"heartbeat-{who}"[:64], daemon=True).start()
    try:
        yield
    finally:
        stop.set()  # not joined: a beat waiting for a lock the caller still holds would keep it waiting


def beat_sweep(now: datetime) -> int:
    """This scheduler is alive: its row is renewed every ``BEAT_EVERY_SECONDS`` whatever else it
    has to do (with no SMTP server the outbox sweep never beats), so ``/healthz`` can tell."""
    beat(now)
    db.session.commit()
    return 0


def register_sweeps(add) -> None:
    add("heartbeat", every_seconds=BEAT_EVERY_SECONDS, func=beat_sweep)
