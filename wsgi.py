"""WSGI entry point: ``flask --app wsgi …`` and production servers use ``app``.

A server that loads this module (waitress, gunicorn workers, ``flask run``) also runs the
background sweeps in-process, unless ``SCHEDULER_ENABLED`` is off; other ``flask``
commands never start them. See ``leadflow.scheduler.runner.should_run_in_process``.
"""

import os

from leadflow import create_app
from leadflow.serving import check_rate_limit_storage

# A process that only serves (a gunicorn worker: not a ``flask`` command) leaves out the
# migration tools and the ``leadflow`` commands (``flask --app wsgi db upgrade`` and
# ``flask --app wsgi leadflow …`` run as ``flask`` commands and have them).
app = create_app(migrations=os.environ.get("FLASK_RUN_FROM_CLI") == "true")
check_rate_limit_storage(app.config)  # several processes (gunicorn) need shared rate limits
if app.config.get("SCHEDULER_ENABLED"):  # without: APScheduler stays out of the process
    from leadflow.scheduler.runner import start_in_process

    start_in_process(app)
