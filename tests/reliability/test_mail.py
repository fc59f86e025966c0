"""The mail server comes and goes while a burst of mail is being made, on the database of the
run (SQLite or PostgreSQL): every message arrives exactly once, and soon after the server is
back for good.

A real server process (with its scheduler) and a second scheduler process; new leads arrive
by the capture form and the API (each one's owner gets a new-lead alert: the routing
fallback owner is set) and task reminders fall due, while the loopback SMTP server is
stopped and started again several times. Speed-to-lead alerts are not part of the burst: the
shortest setting is a minute, longer than the whole run.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

from tests.reliability.load import ADMIN_EMAIL, Client, Workspace, loaded_server
from tests.reliability.workers import (Reader, add_due_tasks, assert_logs_clean, copies_by_outbox_row, machine_row,
                                       run_in_app, start_scheduler, unsent_messages, wait_until)
from tests.servers import LoopbackSmtp, stop_processes

LEADS = 60  # alternately by the capture form and the API
TASKS = 30
FLAPS = [(5, 3)] * 4  # (seconds down, seconds up) of the mail server
RECOVERY_LIMIT = 60  # seconds from the server's last return to the last message out

SET_FALLBACK_OWNER = """
    from leadflow.accounts.models import User
    from leadflow.routing.services import set_fallback_owner
    admin = db.session.scalar(db.select(User).where(User.email == sys.argv[1]))
    set_fallback_owner(admin, admin.id)
    db.session.commit()
"""


def flap(sink: LoopbackSmtp, came_back: list) -> None:
    for down, up in FLAPS:
        sink.stop()
        time.sleep(down)
        sink.start()
        came_back.append(time.monotonic())
        time.sleep(up)


def post_leads(client: Client, workspace: Workspace, spread_over: float) -> list:
    replies = []
    for n in range(LEADS):
        values = {"first_name": "Burst", "last_name": f"N{n}", "email": f"burst-{n}@example.com"}
        if n % 2 == 0:
            token = client.form_token(workspace.slug).json()["token"]
            replies.append(client.post_form(workspace.slug, token, values))
        else:
            replies.append(client.post_api(workspace.api_token, values, idempotency_key=str(uuid.uuid4())))
        time.sleep(spread_over / LEADS)
    return replies


def test_every_message_arrives_once_while_the_mail_server_flaps(tmp_path, fresh_database, database_kind,
                                                                record_figures):
    flapping = sum(down + up for down, up in FLAPS)
    with LoopbackSmtp() as sink, loaded_server(
            tmp_path, fresh_database, threads=8, SCHEDULER_TICK_SECONDS="2", SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(sink.port), SMTP_STARTTLS="0", SMTP_TIMEOUT_SECONDS="5") as server:
        run_in_app(server.env, SET_FALLBACK_OWNER, ADMIN_EMAIL)
        # Due one after another from a few seconds in until the server's last time down.
        add_due_tasks(server.env, ADMIN_EMAIL, TASKS, first_in=5, every=(flapping - 3) / TASKS)
        scheduler = start_scheduler(server.env, tmp_path / "scheduler.log")
        reader = Reader(fresh_database)
        came_back: list[float] = []
        try:
            flapper = threading.Thread(target=flap, args=(sink, came_back))
            flapper.start()
            replies = post_leads(server.client(), server.workspace, flapping * 0.8)
            flapper.join()

            def all_sent():
                states = Counter(state for (state,) in reader.rows("SELECT state FROM outbox_messages"))
                assert "unknown" not in states, f"left for an admin to check: {unsent_messages(reader, sink.messages)}"
                kinds = Counter(kind for (kind,) in reader.rows("SELECT kind FROM outbox_messages"))
                return (kinds["new_lead_alert"] == LEADS and kinds["task_reminder"] == TASKS
                        and set(states) == {"sent"} and len(sink.messages) >= sum(kinds.values()))

            try:
                wait_until(all_sent, RECOVERY_LIMIT + 30, "every message to be sent")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; not sent: {unsent_messages(reader, sink.messages)}") from None
            time.sleep(1)  # a second copy would arrive now
            attempts = Counter(n for (n,) in reader.rows("SELECT attempts FROM outbox_messages"))
            with sink.recorder.lock:
                last_arrival = max(arrived for _, _, arrived in sink.recorder.received)
        finally:
            stop_processes([scheduler], timeout=20)

    assert all(reply.ok for reply in replies), [reply for reply in replies if not reply.ok]
    copies, strangers = copies_by_outbox_row(sink.messages, reader)
    rows = reader.rows("SELECT id, kind FROM outbox_messages")
    reader.close()
    assert not strangers, f"messages with a Message-ID of no outbox row: {strangers}"
    assert_logs_clean(tmp_path / "server.log", tmp_path / "scheduler.log")
    missing = [row_id for row_id, _ in rows if copies[row_id] == 0]
    assert not missing, f"outbox rows never delivered: {missing}"
    doubled = {row_id: n for row_id, n in copies.items() if n > 1}
    assert not doubled, f"messages delivered more than once (row: copies): {doubled}"
    recovery = max(0.0, last_arrival - came_back[-1])
    assert recovery <= RECOVERY_LIMIT, f"the last message went out {recovery:.0f} s after the server came back"

    kinds = Counter(kind for _, kind in rows)
    record_figures("mail", [
        "| SMTP server flapping during a burst | figure |",
        "|---|---|",
        machine_row(),
        f"| mail server | down {FLAPS[0][0]} s, up {FLAPS[0][1]} s, {len(FLAPS)} times ({flapping} s) |",
        f"| work | {LEADS} leads (capture form and API) and {TASKS} task reminders falling due, "
        "a server process and a scheduler process, sweeps every 2 s |",
        f"| messages | {len(rows)} ({', '.join(f'{n} {kind}' for kind, n in sorted(kinds.items()))}): "
        f"each delivered once, none twice, all \"sent\" |",
        f"| attempts per message | {', '.join(f'{n} took {a}' for a, n in sorted(attempts.items()))} |",
        f"| server back for good → last message delivered | {recovery:.1f} s |",
    ])
