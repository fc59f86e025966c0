"""Helpers for the import tests: files made in the test, jobs created and run through the services."""

from __future__ import annotations

import io

import pytest

from leadflow.extensions import db
from leadflow.imports import services
from leadflow.imports.runner import run_job
from leadflow.pipeline.services import ensure_default_pipeline


@pytest.fixture(autouse=True)
def instance_folder(app, tmp_path):
    """Uploaded files go to a folder of this test, never the shared instance folder."""
    app.instance_path = str(tmp_path / "instance")
    return tmp_path / "instance"


@pytest.fixture
def importer(app, make_user):
    ensure_default_pipeline()
    user = make_user(role="manager", email="importer@example.com", name="Ima Porter")
    db.session.commit()
    return user


@pytest.fixture
def new_job(app, importer):
    """``new_job(text_or_bytes, mapping=None)`` → a draft job for that file (committed)."""

    def _new(content, *, actor=None, filename="leads.csv", mapping=None):
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        job = services.create_job(actor or importer, io.BytesIO(data), filename)
        if mapping is not None:
            services.update_mapping(actor or importer, job, mapping)
        db.session.commit()
        return job

    return _new


@pytest.fixture
def run_import(app, importer, new_job):
    """``run_import(text, policy="skip")`` → the finished job."""

    def _run(content, *, policy="skip", actor=None, mapping=None, filename="leads.csv"):
        job = new_job(content, actor=actor, mapping=mapping, filename=filename)
        services.start_job(actor or importer, job, policy)
        db.session.commit()
        run_job(job.id)
        db.session.expire_all()
        return job

    return _run
