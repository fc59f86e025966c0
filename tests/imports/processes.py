"""The code of an importing process that a test starts on its own (``python -c``) to kill."""

from __future__ import annotations


def importing_process(setup: str) -> str:
    """Python code that runs ``setup`` (which reads ``url``, ``instance`` and ``job_id`` from
    ``sys.argv`` and may patch ``runner``), then runs import job ``job_id`` on the database at
    ``url`` with uploads under ``instance``, as a web or scheduler process would."""
    return f"""
import os, sys, time, multiprocessing
from config import TestConfig
from leadflow import create_app
from leadflow.imports import cleaning, runner
from leadflow.scheduler import heartbeat
{setup}
app = create_app(type("Config", (TestConfig,), {{"SQLALCHEMY_DATABASE_URI": url}}))
app.instance_path = instance
with app.app_context():
    runner.run_job(int(job_id))
"""
