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


def register_sweep(name: str, every_seconds: int = 30, pool: str = "default"):
    """Decorator: ``@register_sweep("outbox", every_seconds=15)``."""

    def decorate(func: Callable[[datetime], int]) -> Callable[[datetime], int]:
        SWEEPS[name] = Sweep(name, func, every_seconds, pool)
        return func

    return decorate
