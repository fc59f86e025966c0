"""Where every area connects its handlers to lead events, in the order they run.

``connect(bus)`` is called by the app factory (so every process, web or scheduler, hears
every event, whichever blueprints or commands it happened to use) and may be called any
number of times: the bus keeps one of each handler.

On ``leads.arrived`` the order is routing (10), scoring (20), alerts and speed-to-lead timers
(50), workflow rules (60): an alert is sent to the owner routing chose, a workflow rule sees
the temperature scoring set.

Sweeps (the scheduler's periodic work) and job kinds (``leadflow.jobs.runner.job_kind``) still
register when their module is imported: ``SWEEP_MODULES`` lists those modules and
``register_sweeps`` imports them.
"""

from __future__ import annotations

from importlib import import_module

from leadflow.leads import alerts
from leadflow.leads.events import Bus, bus
from leadflow.routing import services as routing
from leadflow.scoring import services as scoring
from leadflow.sequences import jobs as sequences
from leadflow.workflows import jobs as workflows


def connect(bus: Bus) -> None:
    routing.register(bus)     # arrival (10): an owner for leads from outside
    scoring.register(bus)     # arrival (20), changes, activities: the score
    alerts.register(bus)      # arrival (50): new-lead alert, speed-to-lead timers
    workflows.register(bus)   # arrival (60), moves, changes, scores: workflow rules
    sequences.register(bus)   # moves, scores, activities: sequences a lead exits


SWEEP_MODULES = (
    "leadflow.jobs.runner",          # sweep: jobs (runs every job kind: import, rescore)
    "leadflow.scoring.jobs",         # job kind: rescore; sweep: scoring_daily
    "leadflow.leads.alerts",         # sweep: lead alerts (speed to lead, escalation)
    "leadflow.activities.reminders",  # sweep: task reminders
    "leadflow.activities.digests",   # sweep: morning digests
    "leadflow.workflows.jobs",       # time triggers
    "leadflow.workflows.webhooks",   # sweep: webhook deliveries
    "leadflow.sequences.jobs",       # sweep: sequence steps
    "leadflow.mail.delivery",        # sweep: the outbox
    "leadflow.imports.runner",       # job kind: import (and its undo)
    "leadflow.api.services",         # sweep: expired idempotency keys
    "leadflow.capture.services",     # sweep: used capture-form token ids past their age
)


def register_sweeps() -> None:
    """Import every module in ``SWEEP_MODULES`` (a no-op for those already imported)."""
    for name in SWEEP_MODULES:
        import_module(name)


def register_hooks() -> None:
    """Everything an app process needs: the event handlers and the sweeps."""
    connect(bus)
    register_sweeps()
