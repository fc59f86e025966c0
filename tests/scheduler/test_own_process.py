"""``leadflow serve --scheduler process`` (what ``make serve`` runs): the sweeps run in one
process of their own beside the server, which starts it and takes it down with it."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

from leadflow.serving import server_environment

from tests.servers import flask_cli, production_env, start_leadflow, stop_processes


def scheduler_children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"scheduler" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
    return found


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_for(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def test_the_server_runs_one_scheduler_process_that_beats_and_ends_with_it_even_after_kill_9(tmp_path):
    env = production_env(tmp_path, SCHEDULER_ENABLED=1, SCHEDULER_TICK_SECONDS=1)
    flask_cli(["db", "upgrade"], env)
    server, port = start_leadflow(env, tmp_path / "server.log", options=("--scheduler", "process"))
    try:
        assert wait_for(lambda: len(scheduler_children(server.pid)) == 1, 30), (tmp_path / "server.log").read_text()
        scheduler = scheduler_children(server.pid)[0]

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
                    return json.load(answer)["scheduler"]["ok"]
            except urllib.error.HTTPError:  # 503 until the first beat
                return False
        assert wait_for(healthy, 60), "the scheduler process never beat"

        server.send_signal(signal.SIGKILL)  # no clean-up in the server: the scheduler sees it is gone
        server.wait(timeout=10)
        assert wait_for(lambda: gone(scheduler), 30), "the scheduler outlived its server"
    finally:
        stop_processes([server])


def test_web_processes_run_no_scheduler_of_their_own_when_it_has_its_own_process():
    env = server_environment({"SCHEDULER_ENABLED": "1", "MALLOC_ARENA_MAX": "4", "PYTHONOPTIMIZE": "0",
                              "PYTHONNODEBUGRANGES": ""}, scheduler="process")
    assert env["SCHEDULER_ENABLED"] == "0" and env["LEADFLOW_SCHEDULER_PROCESS"] == "1"
    assert env["MALLOC_ARENA_MAX"] == "4" and env["PYTHONOPTIMIZE"] == "0"  # the operator's own settings win
    assert env["PYTHONNODEBUGRANGES"] == ""
    threaded = server_environment({"SCHEDULER_ENABLED": "1"}, scheduler="thread")
    assert threaded["SCHEDULER_ENABLED"] == "1" and "LEADFLOW_SCHEDULER_PROCESS" not in threaded
    assert threaded["MALLOC_ARENA_MAX"] == "2" and threaded["PYTHONOPTIMIZE"] == "2"
    assert threaded["PYTHONNODEBUGRANGES"] == "1"


# --- a nudge from a serving process wakes the scheduler's own process ------------------------

def _waiting_child(tmp_path: Path, name: str):
    """A process named like the scheduler (or not) that writes a file when SIGUSR1 comes."""
    import subprocess
    import sys

    mark = tmp_path / f"{name}.woken"
    code = ("import signal, sys, time, pathlib\n"
            f"signal.signal(signal.SIGUSR1, lambda *_: pathlib.Path({str(mark)!r}).write_text('yes'))\n"
            "print('ready', flush=True)\n"
            "time.sleep(30)\n")
    child = subprocess.Popen([sys.executable, "-c", code, name], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    return child, mark


def test_a_nudge_signals_the_servers_scheduler_process_and_nothing_else(tmp_path):
    from leadflow.scheduler.wakeup import SCHEDULER_PID_ENV, wake_scheduler_process

    scheduler, woken = _waiting_child(tmp_path, "scheduler")
    stranger, bystander = _waiting_child(tmp_path, "something-else")
    try:
        assert wake_scheduler_process({SCHEDULER_PID_ENV: str(scheduler.pid)})
        assert wait_for(woken.exists, 10)
        # A pid that is not (or no longer) the scheduler's gets no signal: SIGUSR1 would kill it.
        assert not wake_scheduler_process({SCHEDULER_PID_ENV: str(stranger.pid)})
        assert not wake_scheduler_process({})
        assert not wake_scheduler_process({SCHEDULER_PID_ENV: "not-a-pid"})
        time.sleep(0.3)
        assert not bystander.exists() and stranger.poll() is None
    finally:
        for child in (scheduler, stranger):
            child.kill()
            child.wait()
            child.stdout.close()


def test_the_scheduler_process_runs_every_wakeable_sweep_now_on_the_signal(app):
    import os

    from leadflow.scheduler.wakeup import EXTENSION_KEY, WAKE_SIGNAL, WAKEABLE, on_wake_signal

    class Interval:
        func, args, executor = (lambda now: 0), (), "default"

    class Scheduler:
        running = True
        added: list[str] = []

        def get_job(self, name):
            return Interval() if name in WAKEABLE else None

        def add_job(self, func, **options):
            self.added.append(options["id"])

    previous = signal.getsignal(WAKE_SIGNAL)
    app.extensions[EXTENSION_KEY] = scheduler = Scheduler()
    try:
        on_wake_signal(app)
        os.kill(os.getpid(), WAKE_SIGNAL)
        assert wait_for(lambda: len(scheduler.added) == len(WAKEABLE), 5)
    finally:
        signal.signal(WAKE_SIGNAL, previous)
        app.extensions.pop(EXTENSION_KEY, None)
    # A new lead's routing and alerts, a queued e-mail, a started job: none waits for a tick.
    assert {"lead_arrivals:now", "outbox:now", "jobs:now"} <= set(scheduler.added)


def test_a_process_that_ends_right_after_starting_its_scheduler_exits_without_tracebacks(tmp_path):
    """A server process ends (a restart, Ctrl-C) while its sweeps are falling due: the
    scheduler stops before Python shuts its thread pools down, so the log shows no traceback
    per due sweep and the process exits cleanly."""
    import subprocess
    import sys

    from tests.servers import REPO_ROOT

    env = production_env(tmp_path, SCHEDULER_ENABLED=1)
    flask_cli(["db", "upgrade"], env)
    ended = subprocess.run([sys.executable, "-c", "import wsgi\nfrom leadflow.scheduler.runner import EXTENSION_KEY\n"
                            "assert wsgi.app.extensions[EXTENSION_KEY].running"],
                           cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert ended.returncode == 0, ended.stderr
    assert "Traceback" not in ended.stderr and "cannot schedule new futures" not in ended.stderr, ended.stderr[-3000:]
