"""A large file is cleaned in a second process: the same outcome as cleaning in the
importing thread, and a failure there stops the job with its message, keeping what was
committed before."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from leadflow.extensions import db
from leadflow.imports import cleaning, runner
from leadflow.leads.models import Lead
from leadflow.organizations.models import Organization

from . import cleaning_faults
from .processes import importing_process
from .test_import import assert_totals_exact, live_leads, problem_rows

FILE = ("Name,Email,Phone,Company\n"
        "Ada One,ada@example.com,,Analytical Engines\n"
        "Bob One,,+14155550100,\n"
        "Cy One,cy@example.com,,ANALYTICAL  engines\n"
        "Ada Two,ADA@example.com,,\n"
        "No Contact,,,\n"
        "Bob Two,,(415) 555-0100,\n"
        "Dee One,dee@example.com,212 555 0101,Looms Ltd\n")


@pytest.fixture
def in_process(monkeypatch):
    """Every file is cleaned in a second process, two rows per chunk; counts the processes."""
    monkeypatch.setattr(cleaning, "PROCESS_MIN_BYTES", 0)
    monkeypatch.setattr(cleaning, "PROCESS_MIN_CPUS", 1)
    monkeypatch.setattr(cleaning, "POLL_SECONDS", 0.2)
    monkeypatch.setattr(runner, "CHUNK_ROWS", 2)
    started = []
    real_init = cleaning.CleaningProcess.__init__

    def counting_init(self, *args):
        real_init(self, *args)
        started.append(self.child)

    monkeypatch.setattr(cleaning.CleaningProcess, "__init__", counting_init)
    return started


def outcome(job):
    leads = [(lead.first_name, lead.last_name, lead.email, lead.phone,
              lead.organization.name if lead.organization else None, lead.search_text) for lead in live_leads()]
    return (job.status, job.created_count, job.skipped_count, job.failed_count, job.rows_done), leads, problem_rows(job)


def test_a_file_cleaned_in_a_second_process_imports_as_in_one(run_import, in_process, monkeypatch):
    job = run_import(FILE)
    assert len(in_process) == 1 and in_process[0].exitcode == 0  # it ran and finished
    in_process_result = outcome(job)
    assert in_process_result[0] == ("done", 4, 2, 1, 7)
    rows = in_process_result[2]
    assert rows[5] == ("skipped", "Same email as row 2 of this file.")
    assert rows[6] == ("failed", "The row has no email or phone: a lead needs one of them.")
    assert rows[7] == ("skipped", "Same phone as row 3 of this file.")
    # A company spelt otherwise joins the first one, and the lead is found by its name.
    cy = db.session.scalar(select(Lead).where(Lead.email == "cy@example.com"))
    assert cy.organization.name == "Analytical Engines"
    assert cy.search_text == "cy one cy@example.com analytical engines"
    assert db.session.scalar(select(db.func.count(Organization.id))) == 2
    assert_totals_exact()

    # The same file cleaned in the importing thread (after the first import is trashed).
    runner.trash_created_leads(job.id, job.created_by_id)
    db.session.execute(db.delete(Organization))
    db.session.commit()
    monkeypatch.setattr(cleaning, "PROCESS_MIN_BYTES", 10**9)
    again = run_import(FILE)
    assert len(in_process) == 1  # no second process this time
    assert outcome(again)[0] == in_process_result[0]
    assert outcome(again)[1:] == in_process_result[1:]


def test_an_error_while_cleaning_stops_the_job_and_keeps_earlier_chunks(run_import, in_process, monkeypatch):
    monkeypatch.setattr(cleaning, "clean_records", cleaning_faults.fail_second_chunk)
    job = run_import("Name,Email\n" + "".join(f"Person {i},p{i}@example.com\n" for i in range(5)))
    assert job.status == "failed" and "unexpected error (ValueError)" in job.error
    assert (job.rows_done, job.created_count) == (2, 2)
    assert [lead.email for lead in live_leads()] == ["p0@example.com", "p1@example.com"]
    assert_totals_exact()


def test_a_cleaning_process_that_dies_stops_the_job(run_import, in_process, monkeypatch):
    monkeypatch.setattr(cleaning, "clean_records", cleaning_faults.die_on_second_chunk)
    job = run_import("Name,Email\n" + "".join(f"Person {i},p{i}@example.com\n" for i in range(5)))
    assert job.status == "failed" and "unexpected error (RuntimeError)" in job.error
    # What it cleaned before dying may not have reached the importer; what was written is whole.
    assert job.rows_done == job.created_count == len(live_leads()) <= 2
    assert not in_process[0].is_alive() and in_process[0].exitcode == 3
    assert_totals_exact()


def test_a_cleaning_process_that_hangs_is_stopped(run_import, in_process, monkeypatch):
    monkeypatch.setattr(cleaning, "STALL_SECONDS", 0.5)
    monkeypatch.setattr(cleaning, "clean_records", cleaning_faults.hang_on_second_chunk)
    started = time.monotonic()
    job = run_import("Name,Email\n" + "".join(f"Person {i},p{i}@example.com\n" for i in range(5)))
    assert time.monotonic() - started < 30
    assert job.status == "failed" and "unexpected error (RuntimeError)" in job.error
    assert (job.rows_done, job.created_count) == (2, 2)
    assert not in_process[0].is_alive()  # stopped, not left behind
    assert_totals_exact()


# The importing process, run on its own: it cleans in a child, writes its pid and its child's,
# then stalls on the first chunk (so the child fills the queue and waits for room) until killed.
STALLED_IMPORT = importing_process("""
url, instance, job_id, pids, fallback_only = sys.argv[1:6]
cleaning.PROCESS_MIN_BYTES, cleaning.PROCESS_MIN_CPUS, runner.CHUNK_ROWS = 0, 1, 2
if fallback_only == "1":  # as where prctl is not available: only the child's own check is left
    from tests.imports import cleaning_faults
    cleaning.die_with_parent = cleaning_faults.no_death_signal

def stall(*args, **kwargs):
    children = [child.pid for child in multiprocessing.active_children()]
    with open(pids + ".tmp", "w") as out:
        out.write(" ".join(str(pid) for pid in [os.getpid(), *children]))
    os.rename(pids + ".tmp", pids)
    time.sleep(600)

runner._finish_chunk = stall
""")


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.mark.real_commits  # an import in a process of its own on the test database
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process states from /proc")
@pytest.mark.parametrize("fallback_only", [False, True], ids=["parent-death-signal", "parent-check"])
def test_a_cleaning_process_dies_with_an_import_killed_with_kill_9(app, database_url, new_job, importer,
                                                                   instance_folder, tmp_path, fallback_only):
    from leadflow.imports import services

    job = new_job("Name,Email\n" + "".join(f"Person {i},p{i}@example.com\n" for i in range(200)))
    services.start_job(importer, job, "skip")
    job_id = job.id
    db.session.commit()  # and this test holds no lock while the import runs
    pids = tmp_path / "pids"
    child = None
    importing = subprocess.Popen(
        [sys.executable, "-c", STALLED_IMPORT, database_url, str(instance_folder), str(job_id), str(pids),
         "1" if fallback_only else "0"], cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 60
        while not pids.exists():
            assert importing.poll() is None and time.monotonic() < deadline, "the import did not start"
            time.sleep(0.05)
        parent, child = (int(pid) for pid in pids.read_text().split())
        assert parent == importing.pid and _running(child)
        time.sleep(0.5)  # the child has filled the queue and waits for room
        assert _running(child)
        os.kill(parent, signal.SIGKILL)
        importing.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(child), "the cleaning process outlived the import it cleaned for"
    finally:
        for leftover in (importing.pid, child):
            if leftover is not None and _running(leftover):
                os.kill(leftover, signal.SIGKILL)
        importing.wait()
