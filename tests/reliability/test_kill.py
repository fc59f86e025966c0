"""``kill -9`` in the middle of work, on the database of the run (SQLite or PostgreSQL).

* The web process, under load from clients posting to a capture form and to the API (with
  an ``Idempotency-Key``): a client whose request got no answer sends it again once the
  server is back, as a real client would. Every lead is saved exactly once, none is lost,
  and each is routed, gets its alert timers and its new-lead e-mail once: the arrivals the
  killed process had committed but not yet run are run by the new one.
* A scheduler process, while it sends a batch of about a hundred reminders, with another
  scheduler running: every message is delivered. A second copy is accepted only with the
  Message-ID of the first (the documented at-least-once window: killed after the mail
  server accepted a message and before its "sent" record), and never more of them than
  messages were being handed over at the kill.
* An import of thousands of rows, killed mid-way: another process takes it over and every
  row is imported exactly once.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from leadflow.imports.runner import CHUNK_ROWS
from leadflow.jobs.leases import LEASE_SECONDS
from leadflow.scheduler.heartbeat import STALE_AFTER_SECONDS
from tests.reliability.load import ADMIN_EMAIL, Client, Reply, Workspace, create_admin, loaded_env, prepare_workspace
from tests.reliability.workers import (Reader, add_due_tasks, add_rules, arrivals_done, assert_logs_clean, copies_by_outbox_row, kill_9,
                                       machine_row, start_scheduler, unsent_messages, wait_until)
from tests.servers import REPO_ROOT, LoopbackSmtp, start_leadflow, stop_processes

CLIENTS = 16
POSTS_PER_CLIENT = 10  # alternately to the capture form and to the API
KILL_AFTER_ANSWERS = 50


class Target:
    """Where the server listens. A client that got no answer waits for the next server (a
    generation later) before it sends the request again."""

    def __init__(self, port: int):
        self.port, self.generation = port, 0
        self.changed = threading.Condition()

    def current(self) -> tuple[int, int]:
        with self.changed:
            return self.port, self.generation

    def wait_for_next(self, generation: int, timeout: float = 120) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: self.generation > generation, timeout):
                raise TimeoutError("the server did not come back")

    def restarted(self, port: int) -> None:
        with self.changed:
            self.port, self.generation = port, self.generation + 1
            self.changed.notify_all()


@dataclass
class Post:
    email: str
    channel: str  # "form" or "api"
    no_answer: int = 0  # tries that got no answer (the server killed, or not listening yet)
    reply: Reply | None = None  # the answer at last
    saved_by_first_try: bool = False  # the answer to a retry says an earlier try had saved it
    error: str | None = None


def send_until_answered(target: Target, post: Post, attempt: Callable[[Client], Reply]) -> Reply:
    """``attempt`` until the server answers; after no answer, waits for the restarted server."""
    while True:
        port, generation = target.current()
        reply = attempt(Client(port, timeout=60))
        if reply.status:
            return reply
        post.no_answer += 1
        target.wait_for_next(generation)


class KilledServerClients:
    """``CLIENTS`` clients posting leads one after another, sending again what got no answer."""

    def __init__(self, target: Target, workspace: Workspace):
        self.target, self.workspace = target, workspace
        self.posts: list[Post] = []
        self.lock = threading.Lock()
        self.answered = threading.Semaphore(0)

    def _form(self, post: Post, values: dict) -> None:
        slug = self.workspace.slug
        reply = send_until_answered(self.target, post, lambda client: client.form_token(slug))
        assert reply.status == 200, reply
        token = reply.json()["token"]  # the same token when the post is sent again
        post.reply = send_until_answered(self.target, post, lambda client: client.post_form(slug, token, values))
        # 409: the token was used by an accepted submission, that is, an earlier try saved it.
        post.saved_by_first_try = post.reply.status == 409 and post.no_answer > 0

    def _api(self, post: Post, values: dict) -> None:
        key = str(uuid.uuid4())  # the same key when the post is sent again
        post.reply = send_until_answered(
            self.target, post, lambda client: client.post_api(self.workspace.api_token, values, idempotency_key=key))
        post.saved_by_first_try = post.reply.headers.get("idempotent-replayed") == "true"

    def client(self, index: int, start: threading.Barrier) -> None:
        start.wait()
        for n in range(POSTS_PER_CLIENT):
            post = Post(f"kill-{index}-{n}@example.com", "form" if n % 2 == 0 else "api")
            with self.lock:
                self.posts.append(post)
            values = {"first_name": post.channel.title(), "last_name": f"{index}-{n}", "email": post.email}
            try:
                (self._form if post.channel == "form" else self._api)(post, values)
            except (AssertionError, TimeoutError, KeyError, ValueError) as exc:
                post.error = repr(exc)
            self.answered.release()

    def run(self, during: Callable[[], None]) -> float:
        start = threading.Barrier(CLIENTS + 1)
        threads = [threading.Thread(target=self.client, args=(i, start)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.monotonic()
        during()
        for thread in threads:
            thread.join(timeout=300)
        assert not any(thread.is_alive() for thread in threads), "a client hung"
        return time.monotonic() - began


def test_the_web_process_killed_under_load_loses_no_lead_and_saves_none_twice(tmp_path, fresh_database,
                                                                                database_kind, record_figures):
    env = loaded_env(tmp_path, fresh_database)  # the scheduler in the server, sweeps every second
    workspace = prepare_workspace(env)
    add_rules(env, ADMIN_EMAIL)  # every lead routed to the admin: its arrival (after the commit) leaves a trace to count
    server, port = start_leadflow(env, tmp_path / "server-1.log", threads=8)
    target = Target(port)
    clients = KilledServerClients(target, workspace)
    reader = Reader(fresh_database)
    killed: dict = {}

    def kill_and_restart():
        nonlocal server
        for _ in range(KILL_AFTER_ANSWERS):
            assert clients.answered.acquire(timeout=120), "the clients made no progress"
        killed["answered"] = KILL_AFTER_ANSWERS
        kill_9(server)
        down = time.monotonic()
        server, new_port = start_leadflow(env, tmp_path / "server-2.log", threads=8)
        killed["restart_seconds"] = time.monotonic() - down
        target.restarted(new_port)

    try:
        seconds = clients.run(kill_and_restart)
        leads = Counter(email for (email,) in reader.rows(
            "SELECT email FROM leads WHERE email LIKE 'kill-%' AND deleted_at IS NULL"))
        # Arrivals queued by the killed process run in the new one, once each.
        arrived = wait_until(lambda: arrivals_done(reader, "kill-%"), timeout=120, what="every arrival to run")
    finally:
        stop_processes([server], timeout=20)
        reader.close()

    posts = clients.posts
    assert len(posts) == CLIENTS * POSTS_PER_CLIENT
    unanswered = [p for p in posts if p.no_answer]
    assert unanswered, "the kill interrupted no request: nothing was tested"
    failures = [p for p in posts if p.error or not (p.reply.ok or p.saved_by_first_try)]
    assert not failures, f"{len(failures)} posts not accepted, e.g. {failures[:3]}"
    doubled = {email: n for email, n in leads.items() if n > 1}
    assert not doubled, f"leads saved twice: {doubled}"
    lost = sorted({p.email for p in posts} - set(leads))
    assert not lost, f"{len(lost)} accepted posts have no lead: {lost[:5]}"
    assert set(leads) == {p.email for p in posts}
    admin = reader_admin_id(fresh_database)
    not_once = [row for row in arrived if tuple(row[1:]) != (admin, 0, 1, 2, 1, 1, 1, 1, 1)]
    assert not not_once, f"leads whose routing, alert timers, new-lead alert or first history did not happen once: {not_once[:5]}"
    assert_logs_clean(tmp_path / "server-2.log")

    saved_by_first = sum(1 for p in unanswered if p.saved_by_first_try)
    record_figures("kill-web", [
        "| kill -9 of the web process | figure |",
        "|---|---|",
        machine_row(),
        f"| posts ({CLIENTS} clients, capture form and API alternately) | {len(posts)} in {seconds:.1f} s |",
        f"| killed after | {killed['answered']} answers |",
        f"| restart (kill → listening again) | {killed['restart_seconds']:.1f} s |",
        f"| posts that got no answer and were sent again | {len(unanswered)} "
        f"({saved_by_first} had been saved by the first try: API replay or form token already used) |",
        f"| leads saved | {sum(leads.values())} for {len(leads)} addresses: none lost, none twice |",
    ])


def reader_admin_id(url: str) -> int:
    reader = Reader(url)
    try:
        return reader.scalar("SELECT id FROM users WHERE email = :e", e=ADMIN_EMAIL)
    finally:
        reader.close()


REMINDERS = 100


def test_a_scheduler_killed_mid_batch_loses_no_message_and_repeats_none_under_another_message_id(
        tmp_path, fresh_database, database_kind, record_figures):
    # A mail server that takes 50 ms over each message before accepting it: the kill lands mid-send.
    with LoopbackSmtp(delay=0.05) as sink:
        env = loaded_env(tmp_path, fresh_database, SMTP_HOST="127.0.0.1", SMTP_PORT=str(sink.port),
                         SMTP_STARTTLS="0", SMTP_TIMEOUT_SECONDS="10")
        add_due_tasks(env, create_admin(env), REMINDERS)
        reader = Reader(fresh_database)
        schedulers = [start_scheduler(env, tmp_path / f"scheduler-{n}.log") for n in (1, 2)]
        try:
            wait_until(lambda: len(sink.messages) >= REMINDERS // 4, 60, "a quarter of the reminders to go out")

            def handing_over():
                claimants = [claimant for (claimant,) in reader.rows(
                    "SELECT claimed_by FROM outbox_messages WHERE state = 'sending'")]
                return next((p for p in schedulers if any(f":{p.pid}:" in c for c in claimants)), None)

            victim = wait_until(handing_over, 30, "a scheduler handing a message over", interval=0.01)
            kill_9(victim)
            killed_at = time.monotonic()
            delivered_at_kill = len(sink.messages)
            held = Counter(state for (state,) in reader.rows(
                "SELECT state FROM outbox_messages WHERE claimed_by LIKE :me", me=f"%:{victim.pid}:%"))
            in_flight = held["sending"]  # one per outbox sweep running in it (a tick and a nudge may overlap)

            def all_sent():
                states = Counter(state for (state,) in reader.rows(
                    "SELECT state FROM outbox_messages WHERE kind = 'task_reminder'"))
                assert "unknown" not in states, f"left for an admin: {unsent_messages(reader, sink.messages)}"
                return states == {"sent": REMINDERS} and len({m["Message-ID"] for m in sink.messages}) >= REMINDERS

            wait_until(all_sent, 90, "every reminder to be sent")
            recovered = time.monotonic() - killed_at
            time.sleep(1)  # a late second copy would arrive now
        finally:
            stop_processes([p for p in schedulers if p.poll() is None], timeout=20)

    assert_logs_clean(*(tmp_path / f"scheduler-{n}.log" for n, p in zip((1, 2), schedulers) if p is not victim))
    copies, strangers = copies_by_outbox_row(sink.messages, reader)
    reminders = reader.rows("SELECT id, subject FROM outbox_messages WHERE kind = 'task_reminder'")
    reader.close()
    assert not strangers, f"messages with a Message-ID of no outbox row: {strangers}"
    assert len({subject for _, subject in reminders}) == REMINDERS  # one row per task: none under two ids
    missing = [row_id for row_id, _ in reminders if copies[row_id] == 0]
    assert not missing, f"{len(missing)} reminders never arrived: rows {missing}"
    duplicates = sum(n - 1 for n in copies.values() if n > 1)
    arrived = Counter(m["Message-ID"] for m in sink.messages)
    for message_id in (mid for mid, n in arrived.items() if n > 1):  # each copy an attempt of its own
        attempts = [m["X-LeadFlow-Attempt"] for m in sink.messages if m["Message-ID"] == message_id]
        assert len(set(attempts)) == len(attempts), (message_id, attempts)
    assert duplicates <= in_flight, (f"{duplicates} second copies, but only {in_flight} messages were being handed "
                                     "over at the kill")
    record_figures("kill-scheduler", [
        "| kill -9 of a scheduler mid-batch (another one running) | figure |",
        "|---|---|",
        machine_row(),
        f"| reminders | {REMINDERS}, 2 scheduler processes, mail server taking 50 ms a message |",
        f"| at the kill | {delivered_at_kill} delivered; the killed one held {sum(held.values())} unsent "
        f"(of which {in_flight} being handed over) |",
        f"| kill → every message sent | {recovered:.1f} s (a scheduler counts as gone after 30 s of silence) |",
        f"| delivered | {sum(copies.values())} copies of {REMINDERS} messages: none missing; " + (
            f"{duplicates} sent a second time, with the first copy's Message-ID and an attempt id of its own |"
            if duplicates else "none twice |"),
    ])


IMPORT_ROWS = 2 * CHUNK_ROWS  # killed after the first chunk


def test_an_import_killed_mid_way_is_finished_by_another_process_with_every_row_once(
        tmp_path, fresh_database, database_kind, record_figures):
    env = loaded_env(tmp_path, fresh_database)
    admin = create_admin(env)
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text("First name,Last name,Email\n" + "".join(
        f"Imported,Person {n},imp-{n}@example.com\n" for n in range(IMPORT_ROWS)), encoding="utf-8")
    reader = Reader(fresh_database)
    importing = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "leadflow", "import-csv", str(csv_file),
         "--user", admin], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scheduler = None

    def job():
        rows = reader.rows("SELECT status, rows_done, lease_owner, created_count, skipped_count, failed_count "
                           "FROM import_jobs")
        return rows[0] if rows else None

    def worked_on_by(process):
        return lambda: (j := job()) is not None and f":{process.pid}:" in (j.lease_owner or "")

    try:
        wait_until(worked_on_by(importing), 60, "the import to start")
        scheduler = start_scheduler(env, tmp_path / "scheduler.log")  # the process that takes over
        wait_until(lambda: job().rows_done, 120, "the first chunk", interval=0.02)
        kill_9(importing)
        killed_at = time.monotonic()
        at_kill = job()
        assert at_kill.status != "done" and at_kill.rows_done < IMPORT_ROWS, "the import ended before the kill"
        # Its worker's heartbeat goes stale 30 s after the kill, well before its 120 s lease runs out.
        wait_until(worked_on_by(scheduler), LEASE_SECONDS / 2, "another process to take the import over")
        resumed = time.monotonic() - killed_at
        finished = wait_until(lambda: (j := job()).status in ("done", "failed") and j, 120, "the import to finish")
        took = time.monotonic() - killed_at
        emails = Counter(email for (email,) in reader.rows("SELECT email FROM leads WHERE email LIKE 'imp-%'"))
        created_entries = reader.scalar("SELECT count(*) FROM activities WHERE kind = 'system'")
    finally:
        stop_processes([p for p in (importing, scheduler) if p is not None and p.poll() is None], timeout=20)
        reader.close()

    assert finished.status == "done", finished
    assert (finished.rows_done, finished.created_count, finished.skipped_count, finished.failed_count) == (
        IMPORT_ROWS, IMPORT_ROWS, 0, 0)
    assert len(emails) == IMPORT_ROWS, f"{IMPORT_ROWS - len(emails)} rows lost"
    assert set(emails.values()) == {1}, f"rows imported twice: {[e for e, n in emails.items() if n > 1][:5]}"
    assert created_entries == IMPORT_ROWS  # one "Lead created" timeline entry each
    assert_logs_clean(tmp_path / "scheduler.log")
    record_figures("kill-import", [
        "| kill -9 of an import mid-way | figure |",
        "|---|---|",
        machine_row(),
        f"| rows | {IMPORT_ROWS:,}, chunks of {CHUNK_ROWS:,}; killed with {at_kill.rows_done:,} committed |",
        f"| a worker counts as gone after | {STALE_AFTER_SECONDS} s without a beat (lease {LEASE_SECONDS} s); "
        "sweeps every second |",
        f"| kill → taken over by a scheduler process | {resumed:.1f} s |",
        f"| kill → finished | {took:.1f} s |",
        f"| leads | {len(emails):,}, each row once |",
    ])
