"""What happens after something happens to a lead, whichever way it came about.

Two kinds of hooks, both run inside the transaction of the change:

- **Arrival steps** (``register_arrival_step``) run once for each new lead, in order:
  routing first (``order=10``), then scoring (20), then alerts (50) and workflow rules
  (60), so an alert sees the owner routing chose.
- **Event handlers** (``subscribe``) hear what happens later: ``lead.changed`` (fields
  edited, with ``fields``), ``stage.changed`` (``from_id``, ``to_id``),
  ``activity.added`` (``activity``), ``score.changed`` (``old``, ``new``).

Both register when their module is imported; every such module is listed in
``leadflow.wiring.HOOK_MODULES``, which the app factory loads.

Each step or handler runs in a savepoint of its own: one that fails is rolled back and
logged, and the change that caused it is still saved. Capture is the front door and
must never lose a submission because an alert could not be queued. A conflict is not
such a failure (``is_conflict``: another transaction changed a versioned row first, or
the database stayed locked or lost a race): it propagates, so the request answers 409 or
``leadflow.retry`` runs it again as a whole, and it never leaves the outer transaction
unusable behind a handler that "failed".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.orm.exc import StaleDataError

from leadflow.db import is_retryable
from leadflow.extensions import db
from leadflow.leads.models import Lead

log = logging.getLogger(__name__)

CHANNELS = ("manual", "form", "api", "import")
EVENTS = ("lead.changed", "stage.changed", "activity.added", "score.changed")

# What the caller knows about an arrival that the lead row does not hold (the capture
# form it came through, say): arrival steps read it with ``arrival_context()``.
_ARRIVAL_CONTEXT: ContextVar[dict | None] = ContextVar("arrival_context", default=None)

_ARRIVAL_STEPS: list[tuple[int, Callable[[Lead, str], None]]] = []
_HANDLERS: dict[str, list[Callable]] = {name: [] for name in EVENTS}


def register_arrival_step(step: Callable[[Lead, str], None] | None = None, *, order: int = 50):
    """Decorator (bare or with ``order=``): ``step(lead, channel)`` runs for each new lead."""

    def add(func: Callable[[Lead, str], None]) -> Callable[[Lead, str], None]:
        if all(existing is not func for _, existing in _ARRIVAL_STEPS):
            _ARRIVAL_STEPS.append((order, func))
            _ARRIVAL_STEPS.sort(key=lambda pair: pair[0])
        return func

    return add(step) if step is not None else add


def subscribe(event: str):
    """Decorator: ``handler(lead, actor, **data)`` runs each time ``event`` is emitted."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")

    def add(func: Callable) -> Callable:
        if func not in _HANDLERS[event]:
            _HANDLERS[event].append(func)
        return func

    return add


def is_conflict(error: BaseException) -> bool:
    """Another transaction got there first: a versioned row changed meanwhile
    (``StaleDataError``), or the database lost a race or stayed locked (``is_retryable``).
    Not a handler's own failure: the unit of work as a whole answers a conflict or runs again."""
    return isinstance(error, StaleDataError) or is_retryable(error)


def _run_isolated(func: Callable, what: str, *args, **kwargs) -> bool:
    # The change that caused the event is written first, outside the savepoint: when another
    # user saved the same row meanwhile, that conflict is the caller's to answer (a 409), not a
    # handler failure to log and forget with the session left unusable.
    db.session.flush()
    try:
        with db.session.begin_nested():
            func(*args, **kwargs)
    except Exception as exc:  # a downstream failure never costs the change that caused it...
        if is_conflict(exc) or not db.session.is_active:
            raise  # ...but a conflict is the whole change's, and a broken transaction saves nothing
        log.exception("%s: %s failed", what, func.__name__)
        return False
    return True


@contextmanager
def arriving(**context) -> Iterator[None]:
    """``with arriving(form_id=3): intake_lead(...)`` lets arrival steps see ``form_id``."""
    token = _ARRIVAL_CONTEXT.set(context)
    try:
        yield
    finally:
        _ARRIVAL_CONTEXT.reset(token)


def arrival_context() -> dict:
    return dict(_ARRIVAL_CONTEXT.get() or {})


def lead_arrived(lead: Lead, channel: str) -> list[str]:
    """Run every arrival step for a new lead; returns the names of the steps that failed."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    return [step.__name__ for _, step in list(_ARRIVAL_STEPS)
            if not _run_isolated(step, f"After lead {lead.id} arrived via {channel}", lead, channel)]


def emit(event: str, lead: Lead, actor=None, **data) -> list[str]:
    """Tell every handler of ``event``; returns the names of the handlers that failed."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    return [handler.__name__ for handler in list(_HANDLERS[event])
            if not _run_isolated(handler, f"On {event} for lead {lead.id}", lead, actor, **data)]
