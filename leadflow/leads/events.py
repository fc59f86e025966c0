"""What happens after a lead arrives, whichever way it came in.

``lead_arrived`` runs in the transaction that created the lead. Each downstream step
(alerts now; scoring and routing later) runs in a savepoint of its own: a step that
fails is rolled back and logged, and the lead is still saved. Capture is the front
door and must never lose a submission because an alert could not be queued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from leadflow.extensions import db
from leadflow.leads.models import Lead

log = logging.getLogger(__name__)

CHANNELS = ("manual", "form", "api", "import")

# Each step takes (lead, channel). Areas add theirs to this list at import time
# (see ``register_arrival_step``); the order of registration is the order they run in.
_ARRIVAL_STEPS: list[Callable[[Lead, str], None]] = []


def register_arrival_step(step: Callable[[Lead, str], None]) -> Callable[[Lead, str], None]:
    if step not in _ARRIVAL_STEPS:
        _ARRIVAL_STEPS.append(step)
    return step


def lead_arrived(lead: Lead, channel: str) -> list[str]:
    """Run every arrival step for a new lead; returns the names of the steps that failed."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    failed = []
    for step in list(_ARRIVAL_STEPS):
        try:
            with db.session.begin_nested():
                step(lead, channel)
        except Exception:  # a downstream failure never costs the lead itself
            log.exception("After lead %s arrived via %s, step %s failed", lead.id, channel, step.__name__)
            failed.append(step.__name__)
    return failed
