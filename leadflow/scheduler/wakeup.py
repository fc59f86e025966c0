"""Waking this process's scheduler: run one sweep now instead of at its next tick.

Apart from ``leadflow.scheduler.runner`` (which loads every area's sweeps) so that the code
that asks for a sweep now (starting a job, queuing mail) needs nothing of the areas: the
one-off run repeats what the sweep's own interval job runs.
"""

from __future__ import annotations

from flask import Flask

EXTENSION_KEY = "leadflow.scheduler"  # where the running scheduler is kept on the app


def nudge(app: Flask, name: str) -> bool:
    """Run sweep ``name`` now instead of at its next tick, if this process runs the scheduler.

    A one-off run beside the interval job (a nudge that lands while the interval run is busy
    must not be lost); running twice at once is safe, as every sweep claims its rows.
    """
    scheduler = app.extensions.get(EXTENSION_KEY)
    interval = scheduler.get_job(name) if scheduler is not None and scheduler.running else None
    if interval is None:
        return False
    scheduler.add_job(interval.func, args=interval.args, id=f"{name}:now", name=f"{name} sweep, now",
                      replace_existing=True, max_instances=4, executor=interval.executor)
    return True
