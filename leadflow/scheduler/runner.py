"""APScheduler set-up: one interval job per registered sweep.

APScheduler only ticks. What is due lives in our tables and every sweep claims its rows
atomically, so any number of processes may run the scheduler at once, and whatever fell
due while none ran goes out at the first tick after start (each job's first run is at
start), once.

Sweeps that may run for minutes (the ``jobs`` sweep of ``leadflow.jobs``) run in a pool of
threads of their own (``LONG_THREADS``), so the outbox never waits for a free thread.

Jobs: ``coalesce=True`` (runs missed while busy collapse into one), ``max_instances=1``
(a slow run is never overlapped by the next in the same process),
``misfire_grace_time=None`` (a late run still runs). Each run happens in an app context,
commits, and logs its errors without stopping the scheduler.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from contextlib import nullcontext
from datetime import datetime, timezone

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from leadflow.db import utcnow
from leadflow.errors import WriteOutsideStore
from leadflow.extensions import db
from leadflow.leads.store import guarded
from leadflow.retry import DatabaseBusy, run_unit
from leadflow.scheduler.registry import SWEEPS
from leadflow.scheduler.wakeup import EXTENSION_KEY, nudge, on_wake_signal  # noqa: F401  (nudge: here too, as before)
from leadflow.wiring import register_hooks

log = logging.getLogger(__name__)

MAX_TICK_SECONDS = 30
# Threads for sweeps that may run for minutes (``pool="long"``: the jobs sweep, which runs
# imports and rescoring): one job can run while a second one, just started, need not wait.
LONG_THREADS = 2


def load_sweeps() -> dict:
    """Every registered sweep (:func:`leadflow.wiring.register_hooks` loads them all)."""
    register_hooks()
    return SWEEPS


def run_sweep(app: Flask, name: str, now: datetime | None = None) -> int | None:
    """Run one sweep in an app context and commit; returns rows handled, None if it failed.

    A busy database runs the sweep again from the start (``leadflow.retry``): sweeps claim
    their rows, so running one again, even after a commit of its own, does nothing twice."""
    sweep = load_sweeps()[name]

    def unit() -> int:
        handled = sweep.func(now or utcnow())
        db.session.commit()
        return handled

    with app.app_context(), (guarded() if app.config.get("LEAD_STORE_GUARD") else nullcontext()):
        try:
            return run_unit(unit, what=f"The {name} sweep", attempts=app.config["DB_BUSY_RETRY_ATTEMPTS"],
                            max_seconds=app.config["DB_BUSY_RETRY_SECONDS"], rerun_after_commit=True)
        except WriteOutsideStore:
            raise  # a bug (caught where the guard is on: the tests), not a sweep's bad day
        except DatabaseBusy:  # not a bug: the retries are logged already, and the next tick tries again
            db.session.rollback()
            log.warning("The %s sweep found the database busy; it runs again at the next tick", name)
            return None
        except Exception:  # one failed run never stops the scheduler; the next tick tries again
            db.session.rollback()
            log.exception("The %s sweep failed; it runs again at the next tick", name)
            return None
        finally:
            db.session.remove()


def run_all_once(app: Flask, now: datetime | None = None) -> dict[str, int | None]:
    return {name: run_sweep(app, name, now) for name in sorted(load_sweeps())}


def interval_seconds(app: Flask, every_seconds: int) -> int:
    tick = min(MAX_TICK_SECONDS, int(app.config.get("SCHEDULER_TICK_SECONDS", MAX_TICK_SECONDS)))
    return max(1, min(every_seconds, tick))


def build_scheduler(app: Flask) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=4), "long": ThreadPoolExecutor(max_workers=LONG_THREADS)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=timezone.utc,
    )
    start = datetime.now(timezone.utc)
    for sweep in load_sweeps().values():
        scheduler.add_job(run_sweep, trigger="interval", seconds=interval_seconds(app, sweep.every_seconds),
                          args=(app, sweep.name), id=sweep.name, name=f"{sweep.name} sweep",
                          next_run_time=start, replace_existing=True, executor=sweep.pool)
    return scheduler


def start_scheduler(app: Flask) -> BackgroundScheduler:
    """Start the scheduler for ``app`` in background threads (once per app)."""
    scheduler = app.extensions.get(EXTENSION_KEY)
    if scheduler is not None and scheduler.running:
        return scheduler
    scheduler = build_scheduler(app)
    scheduler.start()
    app.extensions[EXTENSION_KEY] = scheduler
    log.info("Scheduler started with sweeps: %s", ", ".join(sorted(SWEEPS)))
    return scheduler


def stop_scheduler(app: Flask, wait: bool = True) -> None:
    scheduler = app.extensions.pop(EXTENSION_KEY, None)
    if scheduler is not None and scheduler.running:
        scheduler.shutdown(wait=wait)


def should_run_in_process(app: Flask) -> bool:
    """Whether the process that loaded ``wsgi.py`` should run the scheduler.

    Yes in a server (waitress, gunicorn workers, ``flask run``), unless ``SCHEDULER_ENABLED``
    is off. Not in other ``flask`` commands (``db upgrade``, ``leadflow scheduler`` runs its
    own), and not in the watching parent of ``flask run --reload``, only in the child that
    serves, so the reloader never starts it twice.
    """
    if not app.config.get("SCHEDULER_ENABLED"):
        return False
    if os.environ.get("FLASK_RUN_FROM_CLI") != "true":
        return True
    import click
    from flask.helpers import get_debug_flag
    from werkzeug.serving import is_running_from_reloader

    context = click.get_current_context(silent=True)
    if context is None or context.info_name != "run":
        return False
    reload = context.params.get("reload")
    if reload is None:
        reload = get_debug_flag()
    return not reload or is_running_from_reloader()


def start_in_process(app: Flask, serving: bool = False) -> BackgroundScheduler | None:
    """``serving``: the caller is the server itself (``leadflow serve``), so only
    ``SCHEDULER_ENABLED`` decides."""
    wanted = app.config.get("SCHEDULER_ENABLED") if serving else should_run_in_process(app)
    if not wanted:
        return None
    scheduler = start_scheduler(app)
    # Stopped as the process exits, before Python shuts the thread pools down: those go first
    # (``concurrent.futures`` stops them among the threads' own exit callbacks, which run before
    # ``atexit``'s), and a scheduler still running then logged a traceback for every sweep that
    # fell due ("cannot schedule new futures after shutdown"). The threads' exit callbacks run
    # last registered, first: this one before the pools'. Nothing is lost either way: a sweep
    # not run is run by the next tick of any process.
    at_exit = getattr(threading, "_register_atexit", None)
    if at_exit is None:
        import atexit

        at_exit = atexit.register
    at_exit(stop_scheduler, app, False)
    return scheduler


def run_in_foreground(app: Flask, stop: threading.Event | None = None, on_started=None, alive=None) -> None:
    """Run the scheduler until Ctrl-C or SIGTERM (or until ``stop`` is set, or ``alive()``,
    asked every second, says no).

    ``on_started`` is called once the sweeps are scheduled; a Ctrl-C that comes even
    earlier, while they are being set up, still stops everything cleanly.
    """
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        # Both set explicitly: a process started in the background by a non-interactive
        # shell inherits SIGINT as ignored, and Ctrl-C would do nothing.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        start_scheduler(app)
        if threading.current_thread() is threading.main_thread():
            on_wake_signal(app)  # a serving process's nudge (the scheduler's own process)
        if on_started is not None:
            on_started()
        while not stop.wait(1.0):
            if alive is not None and not alive():
                log.warning("The server that started this scheduler is gone: stopping")
                break
    except KeyboardInterrupt:
        pass
    finally:
        stop_scheduler(app, wait=True)
