"""Where every area connects its work, in a visible order: its handlers of lead events
(``connect``), what it does when a setting changes (``listen_to_settings``), its periodic
sweeps and kinds of long work (``schedule``). Nothing registers
itself by being imported.

``register_hooks`` (both) is called by the app factory, so every process, web or scheduler,
hears every event and knows every sweep, whichever blueprints or commands it happened to use;
calling it again changes nothing (the bus keeps one of each handler, a sweep or kind added
again replaces itself).

On ``leads.arrived`` the order is routing (10), scoring (20), alerts and speed-to-lead timers
(50), workflow rules (60): an alert is sent to the owner routing chose, a workflow rule sees
the temperature scoring set.
"""

from __future__ import annotations

from leadflow.activities import digests, reminders
from leadflow.api import services as api
from leadflow.capture import services as capture
from leadflow.dashboard import jobs as home
from leadflow.governance import settings
from leadflow.imports import export_jobs
from leadflow.imports import runner as imports
from leadflow.jobs import runner as jobs
from leadflow.leads import alerts, arrivals, bulk, store
from leadflow.leads.events import Bus, bus
from leadflow.mail import delivery
from leadflow.routing import services as routing
from leadflow.scheduler import heartbeat
from leadflow.scheduler.registry import add_sweep
from leadflow.scoring import jobs as scoring_jobs
from leadflow.scoring import services as scoring
from leadflow.sequences import jobs as sequences
from leadflow.workflows import jobs as workflows
from leadflow.workflows import webhooks


def connect(bus: Bus) -> None:
    routing.register(bus)     # arrival (10): an owner for leads from outside
    scoring.register(bus)     # arrival (20), changes, activities: the score
    alerts.register(bus)      # arrival (50): new-lead alert, speed-to-lead timers
    workflows.register(bus)   # arrival (60), moves, changes, scores: workflow rules
    sequences.register(bus)   # moves, scores, activities: sequences a lead exits


def schedule(add=add_sweep, add_kind=jobs.add_kind) -> None:
    """Every area's periodic work (each ``register_sweeps``) and long work (``register_jobs``)."""
    imports.register_jobs(add_kind)     # job kind: an import, or its undo
    scoring_jobs.register_jobs(add_kind)  # job kind: "Rescore all leads"
    bulk.register_jobs(add_kind)        # job kind: a bulk action on the lead list
    export_jobs.register_jobs(add_kind)  # job kind: a lead-list export too long to stream
    jobs.register_sweeps(add)           # jobs: runs every kind above (long pool)
    heartbeat.register_sweeps(add)      # this scheduler is alive (/healthz reads it)
    delivery.register_sweeps(add)       # outbox
    arrivals.register_sweeps(add, store.write_first_histories)  # new leads' history, routing, scoring, alerts
    alerts.register_sweeps(add)         # lead alerts: speed to lead, escalation
    reminders.register_sweeps(add)      # task reminders
    digests.register_sweeps(add)        # morning digests
    scoring_jobs.register_sweeps(add)   # the daily rescore for time-based points
    workflows.register_sweeps(add)      # time-based workflow rules
    webhooks.register_sweeps(add)       # webhook deliveries
    sequences.register_sweeps(add)      # sequence steps
    api.register_sweeps(add)            # expired idempotency keys
    capture.register_sweeps(add)        # used capture-form token ids past their age
    export_jobs.register_sweeps(add)    # exports past their keeping days
    imports.register_sweeps(add)        # import uploads left on this node's disk
    home.register_sweeps(add)           # the home page's closed months, kept before anyone asks


def listen_to_settings(on_change=settings.on_change) -> None:
    """Work an area does when a workspace setting changes."""
    digests.register_settings(on_change)  # digest hour: plan each user's next digest again


def register_hooks() -> None:
    """Everything an app process needs: the event handlers, the settings listeners, the
    sweeps and the job kinds."""
    connect(bus)
    listen_to_settings()
    schedule()
