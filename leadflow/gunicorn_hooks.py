"""gunicorn's hooks for LeadFlow (``--config python:leadflow.gunicorn_hooks``, which
``leadflow.serving.gunicorn_command`` passes).

With ``leadflow serve --scheduler process`` (what ``make serve`` runs), the master starts one
``flask leadflow scheduler`` process once it is ready and stops it when it exits; the
workers run no scheduler of their own (``SCHEDULER_ENABLED=0``, see
``leadflow.serving.server_environment``). Without it, these hooks do nothing.
"""

from __future__ import annotations

import os

from leadflow.serving import SCHEDULER_PROCESS_ENV, start_scheduler_process, stop_scheduler_process

_scheduler = None


def when_ready(server) -> None:
    global _scheduler
    if os.environ.get(SCHEDULER_PROCESS_ENV) == "1" and _scheduler is None:
        _scheduler = start_scheduler_process()
        server.log.info("Scheduler running in its own process (pid %s)", _scheduler.pid)


def on_exit(server) -> None:
    stop_scheduler_process(_scheduler)
