"""Every area's event handlers and sweeps are connected by the app factory (``leadflow.wiring``),
in every process, once, in the order the arrival steps must run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from config import TestConfig
from leadflow import create_app
from leadflow.leads import events
from leadflow.scheduler.registry import SWEEPS

ROOT = Path(__file__).resolve().parent.parent


def _wired() -> dict:
    return {name: [f"{h.__module__}.{h.__name__}" for h in events.bus.handlers(name)] for name in events.EVENTS}


def test_building_the_app_again_connects_nothing_twice(database_url):
    config = type("WiringConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": database_url})
    create_app(config)
    wired, sweeps = _wired(), dict(SWEEPS)

    create_app(config)

    assert _wired() == wired and SWEEPS == sweeps
    assert all(len(handlers) == len(set(handlers)) for handlers in wired.values())


# A fresh interpreter that builds the app and touches no blueprint or view on its own:
# what it sees connected is what the factory wired, not what earlier tests imported.
_FRESH = """
import json, sys
from config import TestConfig
from leadflow import create_app
from leadflow.leads import events
from leadflow.scheduler.registry import SWEEPS
create_app(type("C", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": "sqlite://"}))
json.dump({"handlers": {name: [h.__module__ + "." + h.__name__ for h in events.bus.handlers(name)]
                        for name in events.EVENTS},
           "sweeps": sorted(SWEEPS)}, sys.stdout)
"""


def test_a_fresh_process_hears_every_event_in_arrival_order():
    out = subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True, check=True,
                         cwd=ROOT, timeout=120)
    wired = json.loads(out.stdout)
    arrival = [name.rsplit(".", 1)[0] for name in wired["handlers"][events.ARRIVED]]
    # Routing picks the owner before scoring, alerts and workflow rules see the lead.
    assert arrival[0] == "leadflow.routing.services"
    assert arrival[1] == "leadflow.scoring.services"
    assert arrival[-1] == "leadflow.workflows.jobs"
    assert any(name.endswith("alert_owners_of_new_leads") for name in wired["handlers"][events.ARRIVED])
    # Stage moves and field changes reach workflow rules and sequences, whoever made them.
    assert {"leadflow.workflows.jobs.workflow_rules_on_move",
            "leadflow.sequences.jobs.exit_on_stage_change"} <= set(wired["handlers"][events.MOVED])
    assert {"leadflow.workflows.jobs.workflow_rules_on_lead_change",
            "leadflow.scoring.services.rescore_changed_leads"} <= set(wired["handlers"][events.CHANGED])
    assert all(wired["handlers"].values()), wired["handlers"]
    assert {"outbox", "jobs", "idempotency-keys", "scoring_daily", "sequences", "workflow_webhooks",
            "workflow_time_triggers", "task_reminders", "lead_alerts", "digests",
            "capture-tokens", "home_closed_months"} <= set(wired["sweeps"])
