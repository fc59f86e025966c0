"""WSGI entry point: ``flask --app wsgi …`` and production servers use ``app``.

A server that loads this module (waitress, gunicorn workers, ``flask run``) also runs the
background sweeps in-process, unless ``SCHEDULER_ENABLED`` is off; other ``flask``
commands never start them. See ``leadflow.scheduler.runner.should_run_in_process``.
"""

from leadflow import create_app
from leadflow.scheduler.runner import start_in_process
from leadflow.serving import check_rate_limit_storage

app = create_app()
check_rate_limit_storage(app.config)  # several processes (gunicorn) need shared rate limits
start_in_process(app)
