"""The sweeps the scheduler ticks. Areas register theirs at import time; the module that
does so is listed in ``leadflow.wiring.HOOK_MODULES``, which the app factory imports.

A sweep is a plain function ``sweep(now) -> int`` (how many rows it handled), called
inside an app context. It claims its own due rows atomically, so running it in several
processes at once, or twice in a row, never does the same work twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Sweep:
    name: str
    func: Callable[[datetime], int]
    every_seconds: int


SWEEPS: dict[str, Sweep] = {}


def register_sweep(name: str, every_seconds: int = 30):
    """Decorator: ``@register_sweep("outbox", every_seconds=15)``."""

    def decorate(func: Callable[[datetime], int]) -> Callable[[datetime], int]:
        SWEEPS[name] = Sweep(name, func, every_seconds)
        return func

    return decorate


# Where a running scheduler leaves its ``nudge`` (``leadflow.scheduler.runner``), so the areas
# below it can ask for a sweep without importing the runner, which loads every area.
NUDGE_KEY = "leadflow.scheduler.nudge"


def nudge(app, name: str) -> bool:
    """Run sweep ``name`` now instead of at its next tick, if this process runs the scheduler;
    False when it does not (the sweep then runs at the next tick of whichever process does)."""
    run_now = app.extensions.get(NUDGE_KEY)
    return run_now(app, name) if run_now is not None else False
