"""Serving LeadFlow with waitress: ``flask --app wsgi leadflow serve`` (what ``make run`` and
``make serve`` start).

Behind a reverse proxy (``TRUST_PROXY=1``), waitress takes the client's address, scheme and
host from the proxy's ``X-Forwarded-For/Proto/Host`` (one hop), and only on connections from
``TRUSTED_PROXY`` (default ``127.0.0.1``); from anyone else those headers are dropped, so a
client cannot pick its own address for the rate limits. Without ``TRUST_PROXY`` they are
always dropped. Waitress applies the hop, so the app's own ``TrustedProxyFix`` (there for
servers that pass the headers through untouched, such as gunicorn) steps aside: the hop counts
once. ``TrustedProxyFix`` holds to the same rule: the forwarded headers count only on
connections from ``TRUSTED_PROXY``; from any other peer they are removed before the app sees them.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from leadflow.scheduler.wakeup import SCHEDULER_PID_ENV

FORWARDED_HEADERS = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"})
# Every X-Forwarded-* header ProxyFix could read, as WSGI environ keys.
FORWARDED_ENVIRON_KEYS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
                          "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX")


class TrustedProxyFix:
    """ProxyFix (one hop of For/Proto/Host) for requests whose peer is ``trusted`` (one IP, or
    ``*`` for any); for every other peer the forwarded headers are dropped, so a client that
    reaches the server directly cannot choose its own address, scheme or host."""

    def __init__(self, app, trusted: str):
        self.app = app
        self.trusted = trusted.strip()
        self.proxied = ProxyFix(app, x_for=1, x_proto=1, x_host=1)

    def trusts(self, peer: str | None) -> bool:
        return self.trusted == "*" or (peer or "").removeprefix("::ffff:") == self.trusted

    def __call__(self, environ, start_response):
        if self.trusts(environ.get("REMOTE_ADDR")):
            return self.proxied(environ, start_response)
        for key in FORWARDED_ENVIRON_KEYS:
            environ.pop(key, None)
        return self.app(environ, start_response)


def waitress_options(config, *, host: str, port: int, threads: int) -> dict:
    options = {"host": host, "port": port, "threads": threads, "clear_untrusted_proxy_headers": True}
    if config.get("TRUST_PROXY"):
        options.update(trusted_proxy=config["TRUSTED_PROXY"], trusted_proxy_count=1,
                       trusted_proxy_headers=set(FORWARDED_HEADERS))
    return options


def serve(app: Flask, *, host: str, port: int, threads: int) -> None:
    """Serve ``app`` until the process is stopped."""
    import waitress

    if isinstance(app.wsgi_app, TrustedProxyFix):
        app.wsgi_app = app.wsgi_app.app  # waitress applies the proxy's hop itself
    waitress.serve(app, **waitress_options(app.config, host=host, port=port, threads=threads))


# --- several processes --------------------------------------------------------------------

class MemoryRateLimitsInSeveralProcesses(RuntimeError):
    """Rate limits counted in each process's memory while several processes serve."""


def serving_processes(environ=None) -> int | None:
    """How many processes serve, when this process can tell: ``LEADFLOW_WORKERS`` (what
    ``leadflow serve --workers`` passes on), or under gunicorn (``GUNICORN_CMD_ARGS``, or
    gunicorn's arbiter loaded in this process) at least 2 unless told otherwise. None: unknown."""
    import sys

    environ = os.environ if environ is None else environ
    if environ.get("LEADFLOW_WORKERS", "").strip().isdigit():
        return int(environ["LEADFLOW_WORKERS"])
    if "GUNICORN_CMD_ARGS" in environ or "gunicorn.arbiter" in sys.modules or \
            "gunicorn" in environ.get("SERVER_SOFTWARE", "").lower():
        return 2
    return None


def check_rate_limit_storage(config, environ=None) -> None:
    """Refuse to serve from several processes with rate limits kept in memory: each process
    would count on its own, and a sign-in limit of 10 would allow 10 per process.
    ``RATELIMIT_ALLOW_MEMORY=1`` overrides (a warning is logged then)."""
    environ = os.environ if environ is None else environ
    processes = serving_processes(environ)
    if not config.get("RATELIMIT_ENABLED") or processes is None or processes < 2:
        return
    if not str(config.get("RATELIMIT_STORAGE_URI", "memory://")).startswith("memory://"):
        return
    message = ("LeadFlow is served by several processes but counts rate limits in memory "
               "(RATELIMIT_STORAGE_URI=memory://): each process would count sign-in attempts on its "
               "own. Set RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379 (see docs/DEPLOY.md)")
    if environ.get("RATELIMIT_ALLOW_MEMORY", "").strip().lower() in {"1", "true", "yes", "on"}:
        logging.getLogger(__name__).warning("%s. Going on: RATELIMIT_ALLOW_MEMORY is set.", message)
        return
    raise MemoryRateLimitsInSeveralProcesses(message + ", or RATELIMIT_ALLOW_MEMORY=1 to serve anyway.")


def gunicorn_command(*, host: str, port: int, workers: int, threads: int) -> list[str]:
    """gunicorn with ``workers`` processes of ``threads`` threads each, serving ``wsgi:app``,
    with the hooks of ``leadflow.gunicorn_hooks`` (the scheduler's own process).

    gunicorn passes the forwarded headers through untouched: the app's ``TrustedProxyFix``
    applies the proxy's hop (only on connections from ``TRUSTED_PROXY``)."""
    return [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads),
            "--bind", f"{host}:{port}", "--access-logfile", "-",
            "--graceful-timeout", "30", "--config", "python:leadflow.gunicorn_hooks", "wsgi:app"]


# --- the scheduler in its own process ------------------------------------------------------

SCHEDULER_PLACES = ("process", "thread")
# Set for gunicorn by ``leadflow serve --scheduler process``: its master starts the scheduler.
SCHEDULER_PROCESS_ENV = "LEADFLOW_SCHEDULER_PROCESS"


def server_environment(environ, *, scheduler: str) -> dict[str, str]:
    """The environment the serving processes start with.

    ``scheduler="process"``: the web processes run no scheduler (``SCHEDULER_ENABLED=0``) and
    one ``flask leadflow scheduler`` process beside them runs the sweeps; a web process then
    leaves APScheduler and its threads out. ``MALLOC_ARENA_MAX=2`` (unless set already):
    glibc gives each thread that allocates its own arena of memory otherwise, which a
    threaded server holds on to (documented by glibc as the knob for this).
    ``PYTHONOPTIMIZE=2`` (Python's ``-OO``, unless set already): the modules load without
    their docstrings (and ``assert`` statements), about 5 MB of every serving process on either
    database (``bench/bench_memory.py``), text no request reads. LeadFlow's own code has no
    ``assert`` and reads no docstring; the libraries' asserts check their own invariants.
    ``PYTHONNODEBUGRANGES=1`` (Python's ``-X no_debug_ranges``, unless set already): the code
    objects leave out the column of each instruction, which only a traceback's ``^^^^`` marks
    read (its file, line and text stay), about half a MB of every serving process."""
    env = dict(environ)
    env.setdefault("MALLOC_ARENA_MAX", "2")
    env.setdefault("PYTHONOPTIMIZE", "2")
    env.setdefault("PYTHONNODEBUGRANGES", "1")
    if scheduler == "process":
        env["SCHEDULER_ENABLED"] = "0"
        env[SCHEDULER_PROCESS_ENV] = "1"
    return env


def scheduler_command() -> list[str]:
    """The scheduler of a server, in its own process: it stops when the server is gone."""
    return [sys.executable, "-m", "flask", "--app", "wsgi", "leadflow", "scheduler", "--exit-with-parent"]


def start_scheduler_process(environ=None) -> subprocess.Popen:
    """Start it, and tell the serving processes started after this (gunicorn's workers fork
    from this process) where it is: a nudge wakes it (``scheduler.wakeup``)."""
    process = subprocess.Popen(scheduler_command(), env=dict(os.environ if environ is None else environ))
    os.environ[SCHEDULER_PID_ENV] = str(process.pid)
    return process


def stop_scheduler_process(process: subprocess.Popen | None, timeout: float = 30) -> None:
    """Stop it as Ctrl-C does (its sweeps finish their unit first); kill it after ``timeout``."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
