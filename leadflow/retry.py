"""Units of work: a request commits once, in one place, and runs again when the database is busy.

**One commit per request.** ``LeadFlowApp.dispatch_request`` runs each view as a unit of
work: views (and ``leadflow.web.admin``'s helpers) never commit, they flush when they need a
new row's id. After the view, ``commit_unless_refused`` commits when the answer is under 400
and rolls back otherwise (a form shown again with its errors, any 4xx), and an error out of
the view rolls back before its error page is drawn: a request never saves half its work.
(``save_refusal`` lets a refusal commit all the same: the API keeps a refused create under
its Idempotency-Key.) Work that must follow the commit (running or waking a job, anything
that reads the saved rows from another connection) is registered with ``after_commit(fn)``:
it runs once the unit has committed, outside it; a unit that rolls back or is run again
drops it. Outside any unit (the CLI, a script, a test calling a service) ``after_commit``
runs ``fn`` at once, as those callers commit before they ask for what follows.

**Running again.** A SQLite writer whose busy timeout runs out gets "database is locked";
PostgreSQL aborts one side of a serialization conflict or a deadlock. Either can strike at
any query of a unit of work, the first one included (the API's token check, the capture form
lookup) and the commit itself, so the unit is run again *as a whole*: ``run_unit`` rolls
back, waits a short random while and calls it again, a bounded number of times within a
bounded time.

- Requests: the request's commit is inside the unit, so a busy or conflicting commit runs the
  view again from the start. The body and the parsed form stay on the request, uploads are
  rewound and the flash messages of the failed attempt are taken back, so the view reads the
  same input again and the visitor reads each message once. A unit that did commit on its own
  (a ``replayable_commit`` such as the API token's last-used time aside) is never run again
  (that could do its work twice): it answers 503 saying part of the work may be saved. After
  a request's commit, SQLite transactions of the same request begin deferred: what follows
  is reading to show the result, and a reader never waits for the write lock under WAL, so a
  request whose work was saved does not answer an error for a lock.
- Sweeps: ``leadflow.scheduler.runner.run_sweep`` runs each sweep as a unit. Sweeps claim
  their rows and may be run twice in a row by design, so a sweep runs again even after a
  commit of its own.

A unit that lost a race with a concurrent one (``leadflow.db.is_conflict``: a row's version
moved on under it, or a find-or-create's unique key was taken first) is run again the same way:
it then reads the fresh rows, so intake applies its submission to the lead as it now is, and an
edit made on an older version answers its usual 409.

When the attempts or the time run out, ``DatabaseBusy`` (a 503 with Retry-After) or, after
conflicts, ``ConcurrentChange`` (a 409) is raised, nothing saved: never a 500. A busy database
met outside the view (a hook before or after it) is a 503 too (``busy_answer``), which says
"nothing was saved" only when the request committed nothing.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

from flask import Flask, Response, g, has_request_context, request, session
from flask.globals import request_ctx
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import Conflict, ServiceUnavailable

from leadflow.db import begin_mode, is_conflict, is_retryable
from leadflow.extensions import db

log = logging.getLogger(__name__)
T = TypeVar("T")

BUSY_MESSAGE = "The database is busy right now, so nothing was saved. Please try again in a moment."
PARTLY_SAVED_MESSAGE = ("The database is busy right now and only part of this may have been saved. "
                        "Reload the page to see what was before you try again.")
CONFLICT_MESSAGE = ("Someone else changed this at the same moment, so nothing was saved. "
                    "Reload to see the current version, then try again.")
RETRY_AFTER_SECONDS = 2
# Short waits between tries: the busy timeout does the real waiting, and a writer that slept
# long between tries would lose the lock to newcomers again and again.
BASE_DELAY = 0.01
MAX_DELAY = 0.1


class DatabaseBusy(ServiceUnavailable):
    """The database stayed busy: 503 with Retry-After; the request saved nothing."""

    description = BUSY_MESSAGE

    def __init__(self, description: str | None = None):
        super().__init__(description=description or BUSY_MESSAGE, retry_after=RETRY_AFTER_SECONDS)


class ConcurrentChange(Conflict):
    """Concurrent units of work kept changing the same rows: 409; the request saved nothing."""

    description = CONFLICT_MESSAGE


@dataclass
class _Unit:
    committed: bool = False
    replayable: int = 0  # > 0 inside ``replayable_commit``
    on_commit: list[Callable[[], None]] = field(default_factory=list)  # in the commit event: no SQL
    waiting: list[Callable[[], None]] = field(default_factory=list)  # ``after_commit``, not yet committed
    ready: list[Callable[[], None]] = field(default_factory=list)  # ``after_commit``, committed
    keep_refused: bool = False  # ``save_refusal``


_current: ContextVar[_Unit | None] = ContextVar("leadflow_unit_of_work", default=None)


def _after_commit(session) -> None:
    unit = _current.get()
    if unit is None or unit.replayable or session.in_nested_transaction():
        return
    unit.committed = True
    for hook in unit.on_commit:
        hook()
    unit.ready.extend(unit.waiting)
    unit.waiting.clear()


def after_commit(fn: Callable[[], None]) -> None:
    """Run ``fn()`` once the work done so far is committed: a job started, a scheduler
    nudged, anything that must see (or must only happen after) saved data.

    Inside a unit of work (a request, a sweep) ``fn`` runs when the unit has returned (or
    failed), if a commit of the unit followed the call, outside the unit (what it commits is
    its own); otherwise it is dropped: a unit run again registers it again. Outside a
    unit (the CLI, a script, a test calling a service) it runs right away: there the caller
    commits before it asks for what follows.
    """
    unit = _current.get()
    if unit is None:
        fn()
    else:
        unit.waiting.append(fn)


def in_unit_of_work() -> bool:
    """Whether a unit of work (a request, a sweep) runs here: what ``after_commit`` defers."""
    return _current.get() is not None


def install_commit_tracking() -> None:
    """Let ``run_unit`` see the commits of the unit it runs (once per process)."""
    if not event.contains(db.session, "after_commit", _after_commit):
        event.listen(db.session, "after_commit", _after_commit)


@contextmanager
def replayable_commit() -> Iterator[None]:
    """A commit that may happen again without harm when the unit runs again (the API token's
    last-used time): it does not stop ``run_unit`` from running the unit again."""
    unit = _current.get()
    if unit is not None:
        unit.replayable += 1
    try:
        yield
    finally:
        if unit is not None:
            unit.replayable -= 1


def backoff(attempt: int) -> float:
    """A short random wait, growing with the attempt, so retrying writers spread out."""
    return min(MAX_DELAY, BASE_DELAY * (2 ** (attempt - 1))) * (0.5 + random.random())


def run_unit(fn: Callable[[], T], *, what: str, attempts: int, max_seconds: float,
             rerun_after_commit: bool = False, on_commit: Callable[[], None] | None = None,
             before_retry: Callable[[], None] | None = None) -> T:
    """``fn()``, run again from the start while it fails with a retryable database error
    or a conflict with a concurrent unit.

    Raises DatabaseBusy (ConcurrentChange after conflicts) when the attempts or
    ``max_seconds`` run out, and DatabaseBusy when ``fn`` already committed and
    ``rerun_after_commit`` is off. Other errors propagate unchanged.
    """
    deadline = time.monotonic() + max_seconds
    for attempt in range(1, attempts + 1):
        unit = _Unit(on_commit=[on_commit] if on_commit else [])
        token = _current.set(unit)
        try:
            return fn()
        except (DBAPIError, StaleDataError) as exc:
            conflict = is_conflict(exc)
            if not conflict and not is_retryable(exc):
                raise
            db.session.rollback()
            delay = backoff(attempt)
            reason = "conflict with a concurrent change" if conflict else "database busy"
            if unit.committed and not rerun_after_commit:
                log.error("%s: %s after part of the work was saved; not run again", what, reason)
                raise DatabaseBusy(PARTLY_SAVED_MESSAGE) from exc
            if attempt == attempts or time.monotonic() + delay > deadline:
                log.warning("%s: %s after %s attempts; giving up", what, reason, attempt)
                raise (ConcurrentChange() if conflict else DatabaseBusy()) from exc
            log.info("%s: %s (attempt %s of %s); again in %.2f s", what, reason, attempt, attempts, delay)
            time.sleep(delay)
            if before_retry is not None:
                before_retry()
        finally:
            _current.reset(token)
            for hook in unit.ready:  # what followed a commit is due, whatever failed after it
                hook()
    raise AssertionError("unreachable")  # pragma: no cover


def _after_request_commit() -> None:
    begin_mode.set("DEFERRED")  # what follows reads to show the result
    g.leadflow_saved = True


def busy_answer() -> DatabaseBusy:
    """The 503 for a busy database met outside the view's retries (a hook before or after it):
    it says "nothing was saved" only when this request committed nothing."""
    return DatabaseBusy(PARTLY_SAVED_MESSAGE if has_request_context() and g.get("leadflow_saved") else None)


def _rewind_uploads() -> None:
    """Werkzeug keeps the body and the parsed form; uploaded files are read from the start again."""
    for uploads in request.files.listvalues():
        for upload in uploads:
            upload.stream.seek(0)


def _flashes_put_back() -> Callable[[], None]:
    """What puts the session's flash messages back to how they are now: an attempt that is
    run again must not leave its flashes behind, or the visitor would read each one twice.
    (The session is read as a plain dict: looking must not mark every answer ``Vary: Cookie``.)"""
    stored = session._get_current_object()
    before = list(dict.get(stored, "_flashes", []))

    def put_back() -> None:
        request_ctx.flashes = None  # what a template of the failed attempt read
        if dict.get(stored, "_flashes", []) == before:
            return
        if before:
            session["_flashes"] = list(before)
        else:
            session.pop("_flashes", None)
    return put_back


def save_refusal() -> None:
    """Let this request's refusal (a 4xx answer) commit what the view wrote all the same: the
    API keeps a refused create under its Idempotency-Key, so that a retry gets the same answer."""
    unit = _current.get()
    if unit is not None:
        unit.keep_refused = True


def commit_unless_refused(response: Response) -> Response:
    """The one commit of a request: a response under 400 commits what the view did; a
    refusal (a form shown again with its errors, a 4xx of any kind) rolls it all back,
    unless the view asked to ``save_refusal``."""
    unit = _current.get()
    if response.status_code < 400 or (unit is not None and unit.keep_refused):
        db.session.commit()
    else:
        db.session.rollback()
    return response


class LeadFlowApp(Flask):
    """Flask, with each view run as a unit of work that commits once (see the module docstring)."""

    def dispatch_request(self):
        put_back_flashes = _flashes_put_back()

        def unit():
            return commit_unless_refused(self.make_response(Flask.dispatch_request(self)))

        def before_retry():
            _rewind_uploads()
            put_back_flashes()
        try:
            return run_unit(unit, what=f"{request.method} {request.path}",
                            attempts=self.config["DB_BUSY_RETRY_ATTEMPTS"],
                            max_seconds=self.config["DB_BUSY_RETRY_SECONDS"], on_commit=_after_request_commit,
                            before_retry=before_retry)
        except BaseException:
            db.session.rollback()  # an error saves nothing: the error page starts clean
            raise
