"""gunicorn's hooks and settings for LeadFlow (``--config python:leadflow.gunicorn_hooks``,
which ``leadflow.serving.gunicorn_command`` passes).

With ``leadflow serve --scheduler process`` (what ``make serve`` runs), the master starts one
``flask leadflow scheduler`` process once it is ready and stops it when it exits; the
workers run no scheduler of their own (``SCHEDULER_ENABLED=0``, see
``leadflow.serving.server_environment``). Without it, these hooks do nothing.

Also only then, the master loads the app once before it forks the workers (``preload_app``):
the modules, the tables and the mappers are built once, and each worker shares those pages
with the master (copy on write) instead of building a copy of its own. Before
each fork the master moves every object it made to the collector's permanent generation
(``gc.freeze``), so the workers' collections do not write to (and so copy) the shared pages;
before that it collects what loading left unreachable and hands the heap's free pages
back to the system (``release_free_memory``), so no worker inherits them as resident memory;
after the fork the worker drops the database connections it inherited, unclosed
(``Engine.dispose(close=False)``: the master's sockets stay the master's). With the scheduler
in the worker (``--scheduler thread``) the app is loaded in each worker, as before: a thread
started in the master would not survive the fork. A preloaded app is not reloaded by a
``HUP`` (restart the server to deploy new code). Either way, once a worker has its app it
moves what it holds to the permanent generation too (``post_worker_init``).

Once a worker has been quiet for ``QUIET_SECONDS`` (no request in flight, none answered
meanwhile), it hands the malloc heap's free pages back to the system (a thread of its own,
started by ``post_worker_init``): what a page needs for a moment (its rows, its HTML) is freed
after it, but glibc keeps the freed pages resident, 2–3 MB of a worker's memory between
requests that nothing uses. Not after every request: the next request would fault those pages
in again (0.3–0.5 ms of system time each), so a steady stream of requests is left alone.
On SQLite it first empties the page caches of its idle connections (one per thread that
answered at once, up to 2 MB each, see ``leadflow.db.shrink_idle_sqlite_connections``).
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading
import time

from leadflow.db import shrink_idle_sqlite_connections
from leadflow.extensions import db
from leadflow.serving import SCHEDULER_PROCESS_ENV, start_scheduler_process, stop_scheduler_process

_scheduler = None
# Requests this worker is answering now (its threads), counted by pre_request and post_request.
_in_flight = 0
_in_flight_lock = threading.Lock()
# Set by post_request when the worker's last request in flight has been answered.
_went_quiet = threading.Event()
QUIET_SECONDS = 0.5
# The worker's database engines (set by post_worker_init): their idle SQLite connections' page
# caches are emptied when the worker goes quiet.
_engines: list = []
# glibc's malloc_trim, or None where the C library this process runs on has none.
_malloc_trim = getattr(ctypes.CDLL(None), "malloc_trim", None)

preload_app = os.environ.get(SCHEDULER_PROCESS_ENV) == "1"


def when_ready(server) -> None:
    global _scheduler
    if os.environ.get(SCHEDULER_PROCESS_ENV) == "1" and _scheduler is None:
        _scheduler = start_scheduler_process()
        server.log.info("Scheduler running in its own process (pid %s)", _scheduler.pid)


def pre_fork(server, worker) -> None:
    if server.cfg.preload_app:
        release_free_memory()  # after the first fork what it collects is frozen already: cheap
        gc.freeze()  # what the master made stays shared: a worker's collections leave it alone


def release_free_memory() -> bool:
    """Collect the garbage loading the app left (frozen, it would stay in every worker for
    good) and give the malloc heap's free pages back to the system (glibc's ``malloc_trim``):
    compiling and loading the modules frees memory in the middle of the heap, which a fork
    hands every worker as resident pages (about 1 MB). False where the C library has no
    ``malloc_trim`` (not glibc): the collection still runs."""
    gc.collect()
    return return_free_heap_pages()


def return_free_heap_pages() -> bool:
    """Give the malloc heap's free pages back to the system (glibc's ``malloc_trim``); the
    memory stays free to allocate, its pages are no longer resident. False where the C
    library has no ``malloc_trim`` (not glibc)."""
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True


def pre_request(worker, req) -> None:
    global _in_flight
    worker.log.debug("%s %s", req.method, req.path)  # what gunicorn's own pre_request does
    with _in_flight_lock:
        _in_flight += 1


def post_request(worker, req, environ, resp) -> None:
    """Called once the answer is sent."""
    global _in_flight
    with _in_flight_lock:
        _in_flight -= 1
        if _in_flight == 0:
            _went_quiet.set()


def return_free_heap_pages_when_quiet(quiet_seconds: float = QUIET_SECONDS) -> bool:
    """Wait until the worker's last request in flight has been answered and then nothing has
    happened for ``quiet_seconds``; then give the free heap pages back. False when a request
    was still in flight at the end (its answer starts the wait again)."""
    _went_quiet.wait()
    _went_quiet.clear()
    while _went_quiet.wait(quiet_seconds):  # another request answered meanwhile: wait again
        _went_quiet.clear()
    with _in_flight_lock:
        if _in_flight:
            return False
    shrink_idle_sqlite_connections(_engines)  # malloc's pages, given back below
    return return_free_heap_pages()


def _return_free_heap_pages_whenever_quiet() -> None:
    while True:
        return_free_heap_pages_when_quiet()


def post_fork(server, worker) -> None:
    if server.cfg.preload_app:
        app = worker.app.wsgi()  # the app the master loaded (``wsgi:app``)
        with app.app_context():
            drop_inherited_connections(db.engines.values())


def post_worker_init(worker) -> None:
    # The worker has loaded the app (itself, or from the master): what it holds now lives as
    # long as the process. Moved out of the collector's sight, a full collection no longer
    # walks those ~160,000 objects: 100 ms of every thread's time once every few hundred
    # requests, not paid for garbage that is never there.
    gc.freeze()
    app = getattr(worker, "wsgi", None)  # the Flask app gunicorn serves
    if hasattr(app, "app_context"):
        with app.app_context():
            _engines[:] = db.engines.values()
    start_returning_free_heap_pages()


def start_returning_free_heap_pages() -> None:
    """The worker's thread that gives the free heap pages back whenever it is quiet."""
    if _malloc_trim is not None:
        threading.Thread(target=_return_free_heap_pages_whenever_quiet, name="free-heap-pages", daemon=True).start()


def drop_inherited_connections(engines) -> None:
    """A worker opens database connections of its own: those in the pools it inherited are
    left to the master, unclosed (closing them would end the master's sessions on the server)."""
    for engine in engines:
        engine.dispose(close=False)


def on_exit(server) -> None:
    stop_scheduler_process(_scheduler)
