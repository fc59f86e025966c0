"""The one place that loads every area's hooks: new-lead arrival steps
(``leadflow.leads.events.register_arrival_step``), event handlers (``subscribe``) and
scheduler sweeps (``leadflow.scheduler.registry.register_sweep``).

Those register themselves when their module is imported. Listing the modules here, and
calling :func:`register_hooks` from the app factory and the scheduler runner, means every
process has all of them, whichever blueprints or commands it happened to import first:
a lead captured through the public form is routed and scored even in a process that never
served a settings page. A module that registers a hook belongs in ``HOOK_MODULES``
(``tests/test_wiring.py`` checks that none is missing).

Importing is idempotent (Python imports a module once, and the registries ignore a
function they already hold), so the factory may run any number of times.
"""

from __future__ import annotations

from importlib import import_module

# In no particular order: arrival steps carry their own ``order=``.
HOOK_MODULES = (
    "leadflow.routing.services",     # arrival: routing (order 10)
    "leadflow.scoring.services",     # arrival: scoring (20); lead.changed, activity.added
    "leadflow.scoring.jobs",         # sweeps: scoring, scoring_daily
    "leadflow.leads.alerts",         # arrival: new-lead and speed-to-lead alerts (50); sweep: lead alerts
    "leadflow.activities.reminders",  # sweep: task reminders
    "leadflow.activities.digests",   # sweep: morning digests
    "leadflow.workflows.jobs",       # arrival: workflow rules (60); stage/lead/score events; time triggers
    "leadflow.workflows.webhooks",   # sweep: webhook deliveries
    "leadflow.sequences.jobs",       # sweep: sequence steps; exit triggers on activity/stage/score events
    "leadflow.mail.delivery",        # sweep: the outbox
    "leadflow.imports.jobs",         # sweep: stalled imports
    "leadflow.api.services",         # sweep: expired idempotency keys
    "leadflow.capture.services",     # sweep: used capture-form token ids past their age
)


def register_hooks() -> None:
    """Import every module in ``HOOK_MODULES`` (a no-op for those already imported)."""
    for name in HOOK_MODULES:
        import_module(name)
