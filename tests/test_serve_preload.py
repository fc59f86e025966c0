"""gunicorn with the scheduler in its own process loads the app once in its master and forks
the workers from it (``leadflow.gunicorn_hooks``): the workers share the loaded code, each
opens database connections of its own, and none of them holds the scheduler's code."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import importlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import types
import urllib.error
import urllib.request
import weakref
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from leadflow import gunicorn_hooks
from leadflow.serving import SCHEDULER_PROCESS_ENV, gunicorn_command, server_environment

from tests.servers import REPO_ROOT, flask_cli, free_port, production_env, stop_processes


@pytest.fixture
def hooks_with(monkeypatch):
    """``leadflow.gunicorn_hooks`` as gunicorn reads it in an environment (put back after)."""
    def load(**environ):
        for name, value in environ.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        return importlib.reload(gunicorn_hooks)
    yield load
    monkeypatch.undo()
    importlib.reload(gunicorn_hooks)


def test_the_app_is_loaded_before_the_fork_only_when_the_scheduler_has_its_own_process(hooks_with):
    assert hooks_with(**{SCHEDULER_PROCESS_ENV: "1"}).preload_app is True
    # A scheduler thread started in the master would not survive the fork into the workers.
    assert hooks_with(**{SCHEDULER_PROCESS_ENV: None}).preload_app is False


def test_a_worker_with_its_app_loaded_keeps_what_it_holds_out_of_the_collectors_walks(monkeypatch):
    # This process is no worker: no thread giving heap pages back (tested on its own below).
    monkeypatch.setattr(gunicorn_hooks, "start_returning_free_heap_pages", lambda: None)
    gc.unfreeze()
    try:
        held = [object()]  # something the app holds for good
        assert any(o is held for o in gc.get_objects())
        gunicorn_hooks.post_worker_init(worker=None)
        assert gc.get_freeze_count() > 0
        assert not any(o is held for o in gc.get_objects())  # a collection no longer walks it
    finally:
        gc.unfreeze()


def test_a_forked_worker_leaves_the_masters_connections_to_it_and_opens_its_own(database_url):
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            inherited = connection.connection.dbapi_connection
        masters = engine.pool
        assert masters.checkedin() == 1  # a connection the master opened, now in its pool
        gunicorn_hooks.drop_inherited_connections([engine])
        assert engine.pool is not masters and engine.pool.checkedin() == 0
        with engine.connect() as connection:
            assert connection.connection.dbapi_connection is not inherited
            assert connection.execute(text("SELECT 1")).scalar() == 1
        masters.dispose()  # here the "master" is this process: it closes its own
    finally:
        engine.dispose()


class _Cycle:
    def __init__(self):
        self.me = self


def test_before_a_fork_the_master_drops_its_garbage_and_frees_its_heaps_pages(monkeypatch):
    """What loading left unreachable is collected before ``gc.freeze``, which would keep it in
    every worker for good; the free pages go back to the system (glibc's ``malloc_trim``)."""
    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))  # this process is no master
    garbage = _Cycle()
    gone = weakref.ref(garbage)
    del garbage
    gunicorn_hooks.pre_fork(types.SimpleNamespace(cfg=types.SimpleNamespace(preload_app=True)), None)
    assert gone() is None and frozen == [True]
    assert gunicorn_hooks.release_free_memory() is (platform.libc_ver()[0] == "glibc")


def test_a_worker_gives_its_free_heap_pages_back_once_it_has_been_quiet(monkeypatch):
    """Between bursts of requests a worker holds no freed heap pages (``malloc_trim`` once no
    request has been in flight or answered for a while); while requests come, or one of its
    threads is still answering, it leaves the heap alone."""
    trims = []
    monkeypatch.setattr(gunicorn_hooks, "_malloc_trim", trims.append)
    worker = types.SimpleNamespace(log=types.SimpleNamespace(debug=lambda *args: None))
    request = types.SimpleNamespace(method="GET", path="/leads")
    results = []
    waiting = threading.Thread(target=lambda: results.append(gunicorn_hooks.return_free_heap_pages_when_quiet(1.0)))
    gunicorn_hooks.pre_request(worker, request)
    gunicorn_hooks.pre_request(worker, request)
    waiting.start()
    gunicorn_hooks.post_request(worker, request, {}, None)
    time.sleep(0.5)
    assert trims == [] and results == []  # one request still in flight: nothing to wait for yet
    gunicorn_hooks.post_request(worker, request, {}, None)
    for _ in range(3):  # more requests come and go: still not quiet
        time.sleep(0.1)
        gunicorn_hooks.pre_request(worker, request)
        gunicorn_hooks.post_request(worker, request, {}, None)
    assert trims == []
    waiting.join(5)
    assert trims == [0] and results == [True]

    waiting = threading.Thread(target=lambda: results.append(gunicorn_hooks.return_free_heap_pages_when_quiet(1.0)))
    waiting.start()
    gunicorn_hooks.pre_request(worker, request)
    gunicorn_hooks.post_request(worker, request, {}, None)
    gunicorn_hooks.pre_request(worker, request)  # in flight when the quiet time is up
    waiting.join(5)
    assert trims == [0] and results == [True, False]
    gunicorn_hooks.post_request(worker, request, {}, None)
    gunicorn_hooks._went_quiet.clear()


def _sqlite_memory_used():
    """SQLite's own count of the bytes it holds in this process (every connection's page cache,
    statements and schema), or None where the driver's library cannot be asked."""
    name = ctypes.util.find_library("sqlite3")
    try:
        library = ctypes.CDLL(name) if name else None
    except OSError:
        library = None
    if library is None or not hasattr(library, "sqlite3_memory_used"):
        return None
    library.sqlite3_memory_used.restype = ctypes.c_int64
    return library.sqlite3_memory_used


def test_a_quiet_worker_on_sqlite_gives_back_its_idle_connections_page_caches(tmp_path, monkeypatch):
    """Four requests answered at once leave four pooled connections, each caching up to 2 MB of
    the file's pages for good; once the worker is quiet those caches are emptied (and the pages
    go back to the system with the heap's), and the connections still answer."""
    memory_used = _sqlite_memory_used()
    if memory_used is None:
        pytest.skip("the sqlite3 module's library does not report its memory")
    engine = create_engine(f"sqlite:///{tmp_path / 'pages.sqlite3'}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
            connection.execute(text("INSERT INTO t (body) VALUES (:body)"),
                               [{"body": "x" * 1000} for _ in range(1500)])  # ~1.5 MB of pages
        connections = [engine.connect() for _ in range(4)]  # four threads' requests at once
        for connection in connections:
            assert connection.execute(text("SELECT count(*) FROM t WHERE body != ''")).scalar() == 1500
        for connection in connections:
            connection.close()
        assert engine.pool.checkedin() == 4
        cached = memory_used()
        assert cached > 4 * 1_000_000

        monkeypatch.setattr(gunicorn_hooks, "_malloc_trim", lambda pad: None)
        monkeypatch.setattr(gunicorn_hooks, "_engines", [engine], raising=False)  # post_worker_init finds them (below)
        worker = types.SimpleNamespace(log=types.SimpleNamespace(debug=lambda *args: None))
        request = types.SimpleNamespace(method="GET", path="/pipeline")
        gunicorn_hooks.pre_request(worker, request)
        gunicorn_hooks.post_request(worker, request, {}, None)
        assert gunicorn_hooks.return_free_heap_pages_when_quiet(0.1) is True
        assert cached - memory_used() > 3 * 1_000_000  # the four caches, less what a schema holds
        assert engine.pool.checkedin() == 4
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 1500
    finally:
        engine.dispose()


def test_a_worker_knows_the_database_engines_of_the_app_it_serves(app, monkeypatch):
    """What the quiet worker shrinks: the engines of the app gunicorn loaded (``worker.wsgi``)."""
    from leadflow.extensions import db

    monkeypatch.setattr(gunicorn_hooks, "start_returning_free_heap_pages", lambda: None)
    monkeypatch.setattr(gunicorn_hooks, "_engines", [])
    try:
        gunicorn_hooks.post_worker_init(types.SimpleNamespace(wsgi=app))
    finally:
        gc.unfreeze()
    assert gunicorn_hooks._engines == list(db.engines.values()) and gunicorn_hooks._engines


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:  # 503: no scheduler heartbeat yet; the body still says
        return error.code, json.load(error)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _workers(master: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{master}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"scheduler" not in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
    return found


def _wait_for(check, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    return check()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc")
def test_preloaded_workers_each_serve_from_the_database_also_after_one_is_killed(tmp_path):
    env = production_env(tmp_path, SCHEDULER_ENABLED=1, RATELIMIT_ENABLED=0)
    flask_cli(["db", "upgrade"], env)
    port = free_port()
    command = gunicorn_command(host="127.0.0.1", port=port, workers=2, threads=2)
    log = open(tmp_path / "gunicorn.log", "w")
    master = subprocess.Popen(command, cwd=REPO_ROOT, env=server_environment(env, scheduler="process"),
                              stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        first = _wait_for(lambda: len(_workers(master.pid)) == 2 and _workers(master.pid), 60)
        assert first, (tmp_path / "gunicorn.log").read_text()
        base = f"http://127.0.0.1:{port}"
        assert _wait_for(lambda: _listening(port), 60), (tmp_path / "gunicorn.log").read_text()
        for _ in range(10):
            assert _get(f"{base}/healthz")[1]["database"] == "ok"

        os.kill(first[0], signal.SIGKILL)  # the master forks a new worker from its loaded app
        replaced = _wait_for(lambda: (set(_workers(master.pid)) - set(first)) and _workers(master.pid), 60)
        assert replaced and len(replaced) == 2, (tmp_path / "gunicorn.log").read_text()
        for _ in range(10):
            assert _get(f"{base}/healthz")[1]["database"] == "ok"
    finally:
        stop_processes([master], timeout=30)
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text()


def _printed_by_web_process(env: dict, code: str) -> list[str]:
    """The lines ``code`` prints in a fresh Python process with a web process's ``env``."""
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()


def test_a_web_process_loads_the_sqlalchemy_dialect_of_its_own_database_only(tmp_path):
    """A worker on SQLite holds no PostgreSQL dialect (2.3 MB) and one on PostgreSQL no SQLite
    dialect; the partial unique indexes still carry their predicate for the database in use."""
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or ""
    postgresql = url.startswith(("postgres://", "postgresql"))
    env = server_environment(production_env(tmp_path, url if postgresql else None), scheduler="process")
    code = ("import sys, wsgi; from sqlalchemy.schema import CreateIndex; from leadflow.extensions import db; "
            "from leadflow.leads.models import Lead; "
            "print([n for n in ('sqlite', 'postgresql') if 'sqlalchemy.dialects.' + n in sys.modules]); "
            "index = next(i for i in Lead.__table__.indexes if i.name == 'uq_leads_live_email_key'); "
            "wsgi.app.app_context().push(); print(CreateIndex(index).compile(dialect=db.engine.dialect))")
    dialects, ddl = _printed_by_web_process(env, code)
    assert dialects == ("['postgresql']" if postgresql else "['sqlite']")
    assert ddl.endswith("ON leads (email_key) WHERE deleted_at IS NULL AND email_key IS NOT NULL")


def test_a_web_process_loads_its_code_without_column_positions(tmp_path):
    """``PYTHONNODEBUGRANGES=1`` for the serving processes: code objects keep their lines but
    not the columns a traceback's ``^^^^`` marks (about half a MB of a worker)."""
    env = server_environment(production_env(tmp_path), scheduler="process")
    code = ("import wsgi, leadflow; positions = list(leadflow.create_app.__code__.co_positions()); "
            "print(any(p[0] for p in positions), {p[2] for p in positions})")
    assert _printed_by_web_process(env, code) == ["True {None}"]


def test_a_web_process_leaves_out_the_leadflow_commands_which_flask_commands_have(tmp_path):
    """A process that only serves does not import ``leadflow.cli``; ``flask --app wsgi`` has
    the ``leadflow`` commands."""
    env = production_env(tmp_path)
    code = "import sys, wsgi; print('leadflow.cli' in sys.modules, 'leadflow' in wsgi.app.cli.commands)"
    assert _printed_by_web_process(env, code) == ["False False"]
    assert _printed_by_web_process({**env, "FLASK_RUN_FROM_CLI": "true"}, code) == ["True True"]


def test_the_postgresql_dialect_loads_without_the_other_drivers_dialects_which_still_work(tmp_path):
    """``pgdriver.load_dialect``: SQLAlchemy's dialect modules of asyncpg, pg8000 and
    psycopg2cffi stay unrun (0.4 MB) while the app's psycopg engine compiles as before; one read
    runs a module as a plain import would. Fails if SQLAlchemy starts reading them at import."""
    code = ("import sys; from leadflow import pgdriver; pgdriver.load_dialect(); "
            "from sqlalchemy import create_engine, select, literal; "
            "engine = create_engine('postgresql+psycopg://nobody@127.0.0.1/none'); "
            "print(engine.dialect.driver, str(select(literal(1)).compile(engine))); "
            "from leadflow.lazymodules import has_run; ran = lambda: [has_run(n) for n in pgdriver.UNUSED_DIALECTS]; "
            "print(ran(), 'sqlalchemy.connectors.asyncio' in sys.modules); "
            "from sqlalchemy.dialects.postgresql.asyncpg import dialect; print(dialect.driver, ran()[0])")
    assert _printed_by_web_process(production_env(tmp_path), code) == [
        "psycopg SELECT %(param_1)s::INTEGER AS anon_1", "[False, False, False] False", "asyncpg True"]


def test_a_web_process_imports_the_reports_with_the_first_request_that_needs_one(tmp_path):
    """No report module is imported when a worker starts (about 1 MB); the first request for a
    report imports them all and registers each report under the slug its route was added with,
    in the index's order."""
    env = server_environment(production_env(tmp_path), scheduler="process")
    code = ("import sys, wsgi; from leadflow.reports.views import REPORT_MODULES, load_reports; "
            "from leadflow.reports.registry import REPORTS; "
            "print([n for n in REPORT_MODULES if 'leadflow.reports.' + n in sys.modules]); "
            "load_reports(); print([r.slug for r in REPORTS] == [n.replace('_', '-') for n in REPORT_MODULES])")
    assert _printed_by_web_process(env, code) == ["[]", "True"]


def test_a_web_process_leaves_the_asyncio_rate_limit_storages_unrun_and_still_limits(tmp_path):
    """``limits.aio`` (0.4 MB) and ``urllib.request`` (for Flask-WTF's reCAPTCHA) are left
    unrun by ``leadflow.extensions``; the sign-in limit of a web process still counts (in
    memory) and answers 429 once spent, its form checked against its CSRF token."""
    env = server_environment(production_env(tmp_path, RATELIMIT_ENABLED="1", LOGIN_RATE_LIMIT="2 per minute"),
                             scheduler="process")
    code = ("import wsgi; from leadflow.lazymodules import has_run; from leadflow.extensions import db; "
            "wsgi.app.app_context().push(); db.create_all(); client = wsgi.app.test_client(); "
            "print(has_run('limits.aio'), has_run('urllib.request'), has_run('limits')); import re; "
            "token = re.search(r'name=\"csrf_token\" type=\"hidden\" value=\"([^\"]+)\"', "
            "client.get('/login').get_data(as_text=True)).group(1); "
            "print([client.post('/login', data={'email': 'x@example.com', 'password': 'nope', 'csrf_token': token})"
            ".status_code for _ in range(3)])")
    assert _printed_by_web_process(env, code) == ["False False True", "[422, 422, 429]"]  # a wrong password, then the limit


def test_a_web_process_on_postgresql_does_not_load_sqlite3(tmp_path):
    """On PostgreSQL a worker holds no ``sqlite3`` (0.8 MB: the import's SQLite writer and the
    SQLite backup command load it when they run); on SQLite it is the driver."""
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or ""
    postgresql = url.startswith(("postgres://", "postgresql"))
    env = server_environment(production_env(tmp_path, url if postgresql else None), scheduler="process")
    code = "import sys, wsgi; print('sqlite3' in sys.modules, '_sqlite3' in sys.modules)"
    assert _printed_by_web_process(env, code) == [f"{not postgresql} {not postgresql}"]


def test_a_web_process_keeps_a_bounded_cache_of_compiled_statements(tmp_path):
    """At most 1.5 x 300 compiled statements (65-75 KB each) per process, not SQLAlchemy's 500:
    room for every statement of the app's pages (about 175), without letting a worker grow by
    ~50 MB; ``SQL_COMPILED_CACHE_SIZE`` sets another size."""
    code = ("import wsgi; from leadflow.extensions import db; wsgi.app.app_context().push(); "
            "print(db.engine._compiled_cache.capacity)")
    env = server_environment(production_env(tmp_path), scheduler="process")
    assert _printed_by_web_process(env, code) == ["300"]
    assert _printed_by_web_process({**env, "SQL_COMPILED_CACHE_SIZE": "50"}, code) == ["50"]


def test_a_web_process_loads_the_email_validator_and_multiprocessing_only_when_it_needs_them(tmp_path):
    """Checking an address (a lead's, an account's, an import's) and an import's cleaning
    process load them; showing pages does not."""
    env = server_environment(production_env(tmp_path), scheduler="process")
    code = ("import sys, wsgi; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('email_validator', 'multiprocessing'))); "
            "from leadflow.leads.fields import normalise_email; from leadflow.imports.cleaning import use_process; "
            "from pathlib import Path; print(normalise_email(' Ann@Example.COM '), use_process(Path('wsgi.py')))")
    assert _printed_by_web_process(env, code) == ["[]", "('Ann@example.com', 'ann@example.com') False"]


def test_a_web_process_holds_no_scheduler_code_when_the_scheduler_has_its_own_process(tmp_path):
    """What a worker of ``make serve`` imports (``wsgi`` with ``SCHEDULER_ENABLED=0``): neither
    APScheduler nor the scheduler's runner, which loads every area's sweeps."""
    env = server_environment(production_env(tmp_path), scheduler="process")
    code = ("import sys, wsgi; "
            "print(sorted(m for m in sys.modules if m.startswith('apscheduler') or m == 'leadflow.scheduler.runner'))")
    assert _printed_by_web_process(env, code) == ["[]"]


def test_a_web_process_loads_its_modules_without_docstrings_and_still_serves(tmp_path):
    """``PYTHONOPTIMIZE=2`` (``-OO``) for the serving processes: the docstrings of every module
    (about 5 MB of a worker) are left out, and the sign-in page renders as before."""
    env = server_environment(production_env(tmp_path), scheduler="process")
    code = ("import sys, wsgi, sqlalchemy.orm, leadflow; print(sys.flags.optimize); "
            "print(sqlalchemy.orm.Session.__doc__, leadflow.create_app.__doc__); "
            "from leadflow.extensions import db; wsgi.app.app_context().push(); db.create_all(); "
            "answer = wsgi.app.test_client().get('/login'); print(answer.status_code, b'csrf_token' in answer.data)")
    assert _printed_by_web_process(env, code) == ["2", "None None", "200 True"]
