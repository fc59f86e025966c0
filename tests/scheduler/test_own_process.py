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
    env = server_environment({"SCHEDULER_ENABLED": "1", "MALLOC_ARENA_MAX": "4"}, scheduler="process")
    assert env["SCHEDULER_ENABLED"] == "0" and env["LEADFLOW_SCHEDULER_PROCESS"] == "1"
    assert env["MALLOC_ARENA_MAX"] == "4"  # the operator's own setting wins
    threaded = server_environment({"SCHEDULER_ENABLED": "1"}, scheduler="thread")
    assert threaded["SCHEDULER_ENABLED"] == "1" and "LEADFLOW_SCHEDULER_PROCESS" not in threaded
    assert threaded["MALLOC_ARENA_MAX"] == "2"
