"""Every area's arrival steps, event handlers and sweeps are loaded from one place
(``leadflow.wiring``), in every process, once."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from config import TestConfig
from leadflow import create_app
from leadflow.leads import events
from leadflow.scheduler.registry import SWEEPS
from leadflow.wiring import HOOK_MODULES

PACKAGE = Path(__file__).resolve().parent.parent / "leadflow"
REGISTERS = re.compile(r"^@(register_arrival_step|subscribe|register_sweep)\b", re.MULTILINE)


def test_every_module_that_registers_a_hook_is_listed_in_the_wiring():
    registering = {
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for path in PACKAGE.rglob("*.py") if REGISTERS.search(path.read_text(encoding="utf-8"))
    }
    assert registering, "the scan found the decorators"
    assert registering == set(HOOK_MODULES)


def test_building_the_app_again_registers_nothing_twice(database_url):
    config = type("WiringConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": database_url})
    create_app(config)
    steps = [step for _, step in events._ARRIVAL_STEPS]
    handlers = {name: list(found) for name, found in events._HANDLERS.items()}
    sweeps = dict(SWEEPS)

    create_app(config)

    assert [step for _, step in events._ARRIVAL_STEPS] == steps
    assert events._HANDLERS == handlers
    assert SWEEPS == sweeps
    assert len(steps) == len(set(steps))


# A fresh interpreter that builds the app and touches no blueprint or view on its own:
# what it sees registered is what the factory wired, not what earlier tests imported.
_FRESH = """
import json, sys
from config import TestConfig
from leadflow import create_app
from leadflow.leads import events
from leadflow.scheduler.registry import SWEEPS
create_app(type("C", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": "sqlite://"}))
json.dump({"steps": [f.__module__ + "." + f.__name__ for _, f in events._ARRIVAL_STEPS],
           "handlers": {k: len(v) for k, v in events._HANDLERS.items()},
           "sweeps": sorted(SWEEPS)}, sys.stdout)
"""


def test_a_fresh_process_has_every_hook_in_arrival_order():
    out = subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent, timeout=120)
    wired = json.loads(out.stdout)
    modules = [step.rsplit(".", 1)[0] for step in wired["steps"]]
    # Routing picks the owner before scoring, alerts and workflow rules see the lead.
    assert modules[0] == "leadflow.routing.services"
    assert modules[1] == "leadflow.scoring.services"
    assert modules[-1] == "leadflow.workflows.jobs"
    assert "leadflow.leads.alerts" in modules
    assert all(count > 0 for count in wired["handlers"].values()), wired["handlers"]
    assert {"outbox", "imports", "idempotency-keys", "scoring", "sequences", "workflow_webhooks",
            "workflow_time_triggers", "task_reminders", "lead_alerts", "digests",
            "capture-tokens"} <= set(wired["sweeps"])
