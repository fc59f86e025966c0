"""The sweeps the scheduler ticks. Each area adds its own in ``register_sweeps(add)``, and
``leadflow.wiring.schedule`` calls those in a visible order from the app factory.

A sweep is a plain function ``sweep(now) -> int`` (how many rows it handled), called
inside an app context. It claims its own due rows atomically, so running it in several
processes at once, or twice in a row, never does the same work twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from leadflow.scheduler.wakeup import nudge  # noqa: F401  (areas ask for a sweep now through the registry)


@dataclass(frozen=True)
class Sweep:
    name: str
    func: Callable[[datetime], int]
    every_seconds: int
    # "long": the sweep may run for minutes (the jobs sweep); it gets threads of its own, so
    # that it never keeps the others (the outbox) waiting for a free thread.
    pool: str = "default"


SWEEPS: dict[str, Sweep] = {}


def add_sweep(name: str, every_seconds: int = 30, pool: str = "default", *, func: Callable[[datetime], int]) -> None:
    """Schedule ``func(now)`` every ``every_seconds`` under ``name`` (adding it again replaces
    it). Areas call it from their ``register_sweeps(add)``, which ``leadflow.wiring.schedule``
    calls: nothing is scheduled by being imported."""
    SWEEPS[name] = Sweep(name, func, every_seconds, pool)
