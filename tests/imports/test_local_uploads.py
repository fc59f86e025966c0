"""No node keeps anything on its disk that another would need: an upload an older version
left only on one node's disk is moved into the database (once, however often the sweep runs)
and any node can then run its import; local copies no import needs any more are removed."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import func, select

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.files import store
from leadflow.files.models import StoredFile
from leadflow.imports import csvfile, services
from leadflow.jobs.runner import run_due_jobs
from leadflow.leads.models import Lead

from tests.workers import queued_import

pytestmark = pytest.mark.real_commits


def people(count: int) -> str:
    return "Name,Email\n" + "".join(f"Person {i},old{i}@example.com\n" for i in range(count))


def stored_uploads() -> list[str]:
    return list(db.session.scalars(select(StoredFile.filename).where(StoredFile.purpose == csvfile.PURPOSE)))


def age(path, seconds: float = csvfile.LOCAL_COPY_GRACE_SECONDS + 60) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def as_an_older_version_left_it(job) -> None:
    """The upload only on this node's disk, as imports kept it before the database did."""
    store.delete_files(db.session.scalars(select(StoredFile.id).where(StoredFile.filename == job.stored_name)))
    db.session.commit()
    age(csvfile.imports_folder() / job.stored_name)


def test_an_upload_left_on_disk_by_an_older_version_is_moved_into_the_database_once(
        app, new_job, importer, tmp_path):
    job = queued_import(new_job, importer, people(5))
    as_an_older_version_left_it(job)
    assert stored_uploads() == []

    assert csvfile.tidy_local_uploads() == 1
    assert csvfile.tidy_local_uploads() == 0  # idempotent: moved once
    db.session.commit()
    assert stored_uploads() == [job.stored_name]
    assert (csvfile.imports_folder() / job.stored_name).exists()  # its import still reads it here

    app.instance_path = str(tmp_path / "node-b")  # another node, which never had the file
    assert run_due_jobs(utcnow()) == 1
    db.session.expire_all()
    assert (job.status, job.created_count) == ("done", 5)
    assert db.session.scalar(select(func.count(Lead.id)).where(Lead.email.like("old%"))) == 5


def test_an_upload_whose_import_needs_it_no_more_is_removed_and_not_moved(app, new_job, importer):
    job = new_job(people(3))
    as_an_older_version_left_it(job)
    path = csvfile.imports_folder() / job.stored_name
    services.discard_draft(importer, job)  # as on another node: this node's copy stays behind
    db.session.commit()
    path.write_text("Name\nLeft behind\n")
    age(path)

    assert csvfile.tidy_local_uploads() == 1
    db.session.commit()
    assert not path.exists()
    assert stored_uploads() == []


def test_copies_of_finished_imports_and_half_written_copies_are_removed_but_young_files_stay(
        app, new_job, importer, tmp_path):
    job = queued_import(new_job, importer, people(2))
    node_b = tmp_path / "node-b"
    app.instance_path = str(node_b)
    copy = csvfile.stored_path(job.stored_name)  # node B previewed it: its cached copy
    app.instance_path = str(tmp_path / "node-a")
    assert run_due_jobs(utcnow()) == 1  # node A imports it: the database forgets the file
    app.instance_path = str(node_b)
    half_written = copy.with_name(copy.name + ".123.abcd.part")
    half_written.write_bytes(b"Name\n")
    young = copy.with_name("just-uploaded.csv")  # an upload still being written
    young.write_bytes(b"Name\n")
    for path in (copy, half_written):
        age(path)

    assert csvfile.tidy_local_uploads() == 2
    assert not copy.exists() and not half_written.exists()
    assert young.exists()
