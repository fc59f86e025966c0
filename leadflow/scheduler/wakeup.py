"""Waking the scheduler: run one sweep now instead of at its next tick.

Apart from ``leadflow.scheduler.runner`` (which loads every area's sweeps) so that the code
that asks for a sweep now (starting a job, queuing mail) needs nothing of the areas: the
one-off run repeats what the sweep's own interval job runs.

When the scheduler runs in a process of its own beside the server (``leadflow serve
--scheduler process``), the server records its pid in ``LEADFLOW_SCHEDULER_PID`` before any
serving process starts, and a nudge from a serving process sends it ``SIGUSR1``: the
scheduler then runs every sweep marked ``wakeable`` at once (each claims its rows, so one
with nothing to do costs a query). A scheduler on another node is not reached: its sweeps
run at their next tick, as they always did.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

from flask import Flask

EXTENSION_KEY = "leadflow.scheduler"  # where the running scheduler is kept on the app
SCHEDULER_PID_ENV = "LEADFLOW_SCHEDULER_PID"
WAKE_SIGNAL = signal.SIGUSR1
WAKEABLE: set[str] = set()  # sweeps a nudge from another process runs now

log = logging.getLogger(__name__)


def wakeable(name: str) -> str:
    """Mark sweep ``name`` as one that someone waits for (a new lead's alerts, an e-mail, a
    started job): a nudge from a serving process wakes it in the scheduler's own process."""
    WAKEABLE.add(name)
    return name


def nudge(app: Flask, name: str) -> bool:
    """Run sweep ``name`` now instead of at its next tick: in this process's scheduler, or in
    the scheduler's own process of this server (see the module).

    A one-off run beside the interval job (a nudge that lands while the interval run is busy
    must not be lost); running twice at once is safe, as every sweep claims its rows.
    """
    return nudge_here(app, name) or wake_scheduler_process()


def wake_scheduler_process(environ=os.environ) -> bool:
    """Signal the scheduler's own process of this server, if it has one and it is still that
    process (a pid can be reused once a process is gone: its command line must say so)."""
    pid = environ.get(SCHEDULER_PID_ENV, "")
    if not pid.isdigit():
        return False
    try:
        if b"scheduler" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return False
        os.kill(int(pid), WAKE_SIGNAL)
    except OSError:  # gone, not ours, or no /proc: the sweep runs at its next tick
        return False
    return True


def on_wake_signal(app: Flask) -> None:
    """In the scheduler's own process (its main thread): run every wakeable sweep now when a
    serving process signals."""
    def wake(signum, frame) -> None:
        for name in sorted(WAKEABLE):
            try:
                nudge_here(app, name)
            except Exception:  # a signal handler must not take the scheduler down
                log.exception("Could not run sweep %s now", name)

    signal.signal(WAKE_SIGNAL, wake)


def nudge_here(app: Flask, name: str) -> bool:
    """``nudge`` without asking another process: this process's scheduler or nothing."""
    scheduler = app.extensions.get(EXTENSION_KEY)
    interval = scheduler.get_job(name) if scheduler is not None and scheduler.running else None
    if interval is None:
        return False
    scheduler.add_job(interval.func, args=interval.args, id=f"{name}:now", name=f"{name} sweep, now",
                      replace_existing=True, max_instances=4, executor=interval.executor)
    return True
