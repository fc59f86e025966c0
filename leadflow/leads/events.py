"""What happens after something happens to leads, whichever way it came about.

The lead store (``leadflow.leads.store``) is the only writer of leads; after each write it
emits one event for the whole batch of leads it wrote:

- ``leads.arrived`` ``(arrivals)``: new leads (``Arrivals``), each from the web form ("manual"), a
  capture form ("form"), the API ("api"), or an import whose starter asked for the new-lead rules
  ("import"), with what its caller knew (``arriving``: the capture form). Leads created in a
  request or a sweep arrive after its commit, in batches, in the ``lead_arrivals`` sweep's
  transaction (``leads.arrivals``), one batch whatever channels and forms its leads came by;
  elsewhere at once. (A merge's survivor is not new: it is ``leads.changed``; the demo's made-up
  past is no arrival.) Handlers run in ``order``: routing first (10), then scoring (20), then alerts
  (50) and workflow rules (60), so an alert sees the owner routing chose.
- ``leads.moved`` ``(ids, actor, from_id, to_id)``: leads that went from one stage to another
  (the board, the lead form, the API, a stage deleted with its leads moved).
- ``leads.changed`` ``(ids, actor, fields)``: fields changed, by a person or by the system
  (scoring changing the temperature, routing assigning an owner).

Two more come from the areas that own them: ``activity.added`` ``(lead, actor, activity)``
and ``score.changed`` ``(changes, actor)``, ``changes`` a list of ``ScoreChange(lead, old,
new)``: a batch's scores (the arrivals sweep's, a rescore's) in one event, not one per lead.

Handlers are connected by each area's ``register(bus)``, called in a visible order by
``leadflow.wiring.connect``; nothing registers itself by being imported. A handler gets the
batch: it loads what it needs for all of the ids at once (``load_leads``), or says in code
why it skips the batch.

Each handler runs in a savepoint of its own, inside the transaction of the change: one that
fails is rolled back and logged, and the change that caused it is still saved. A handler of a
batch that works lead by lead runs each lead's work in ``isolated`` too, so one lead's failure
costs the others nothing, as when they came one at a time (a ``leads.arrived`` handler that
fails on a batch runs again for each of its leads alone). Capture is
the front door and must never lose a submission because an alert could not be queued. A
conflict is not such a failure (``is_conflict``: another transaction changed a versioned row
first, or the database stayed locked or lost a race): it propagates, so the request answers
409 or ``leadflow.retry`` runs it again as a whole, and it never leaves the outer transaction
unusable behind a handler that "failed".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import attributes, selectinload
from sqlalchemy.orm.exc import StaleDataError

from leadflow.db import chunked, is_retryable
from leadflow.errors import WriteOutsideStore
from leadflow.extensions import db
from leadflow.leads.models import Lead

log = logging.getLogger(__name__)

CHANNELS = ("manual", "form", "api", "import")

ARRIVED = "leads.arrived"
MOVED = "leads.moved"
CHANGED = "leads.changed"
ACTIVITY_ADDED = "activity.added"
SCORE_CHANGED = "score.changed"
EVENTS = (ARRIVED, MOVED, CHANGED, ACTIVITY_ADDED, SCORE_CHANGED)

# What the caller knows about an arrival that the lead row does not hold (the capture
# form it came through, say): kept with each lead of ``Arrivals``; routing reads it with
# ``arrival_context()`` while it decides that lead.
_ARRIVAL_CONTEXT: ContextVar[dict | None] = ContextVar("arrival_context", default=None)


class Arrivals:
    """The new leads of one ``leads.arrived``, in id order, each with the channel it came by and
    its arrival context: one run of each handler serves a batch whose leads came by the API
    and by several capture forms (the arrivals sweep's), so what a handler reads once (rules,
    people, settings) it reads once per batch, not once per channel and form."""

    def __init__(self, arrivals: Iterable[tuple[int, str, dict | None]]):
        self._arrivals: dict[int, tuple[str, dict]] = {}
        for lead_id, channel, context in sorted(arrivals, key=lambda arrival: arrival[0]):
            if channel not in CHANNELS:
                raise ValueError(f"unknown channel {channel!r}")
            self._arrivals[lead_id] = (channel, dict(context or {}))

    @property
    def ids(self) -> list[int]:
        return list(self._arrivals)

    def via(self, channels: Iterable[str]) -> list[int]:
        """The ids of the leads that came by one of ``channels``."""
        wanted = set(channels)
        return [lead_id for lead_id, (channel, _) in self._arrivals.items() if channel in wanted]

    def channel(self, lead_id: int) -> str:
        return self._arrivals[lead_id][0]

    def context(self, lead_id: int) -> dict:
        return dict(self._arrivals[lead_id][1])

    def channels(self) -> list[str]:
        return sorted({channel for channel, _ in self._arrivals.values()})

    def only(self, lead_id: int) -> Arrivals:
        return Arrivals([(lead_id, *self._arrivals[lead_id])])

    def __len__(self) -> int:
        return len(self._arrivals)


class ScoreChange(NamedTuple):
    """One lead's score moved from ``old`` to ``new`` (``score.changed``)."""
    lead: Lead
    old: int
    new: int


class Bus:
    """Event name → handlers, each with its order (lower runs first; equal keeps the order
    they were connected in)."""

    def __init__(self):
        self._handlers: dict[str, list[tuple[int, Callable]]] = {name: [] for name in EVENTS}

    def on(self, event: str, handler: Callable, *, order: int = 50) -> None:
        """Connect ``handler`` to ``event``; connecting one twice keeps one."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}")
        handlers = self._handlers[event]
        if all(existing is not handler for _, existing in handlers):
            handlers.append((order, handler))
            handlers.sort(key=lambda pair: pair[0])

    def off(self, event: str, handler: Callable) -> None:
        self._handlers[event] = [(o, h) for o, h in self._handlers[event] if h is not handler]

    def handlers(self, event: str) -> list[Callable]:
        return [handler for _, handler in self._handlers[event]]

    def emit(self, event: str, what: str, *args, **kwargs) -> list[str]:
        """Run every handler of ``event``, each isolated; returns the names of those that failed."""
        return [handler.__name__ for handler in self.handlers(event)
                if not isolated(handler, f"On {event} for {what}", *args, **kwargs)]


bus = Bus()


def is_conflict(error: BaseException) -> bool:
    """Another transaction got there first: a versioned row changed meanwhile
    (``StaleDataError``), or the database lost a race or stayed locked (``is_retryable``).
    Not a handler's own failure: the unit of work as a whole answers a conflict or runs again."""
    return isinstance(error, StaleDataError) or is_retryable(error)


def isolated(func: Callable, what: str, *args, **kwargs) -> bool:
    """Run ``func`` in a savepoint: False (logged, rolled back) when it failed; a conflict
    propagates (see the module). Each handler runs so; a batch handler's per-lead work too."""
    # The change that caused the event is written first, outside the savepoint: when another
    # user saved the same row meanwhile, that conflict is the caller's to answer (a 409), not a
    # handler failure to log and forget with the session left unusable.
    db.session.flush()
    try:
        with db.session.begin_nested():
            func(*args, **kwargs)
    except Exception as exc:  # a downstream failure never costs the change that caused it...
        if is_conflict(exc) or isinstance(exc, WriteOutsideStore) or not db.session.is_active:
            raise  # ...but a conflict is the whole change's, a broken transaction saves nothing,
            # and a write behind the lead store's back is a bug to fix, not a failure to log
        log.exception("%s: %s failed", what, func.__name__)
        return False
    return True


@contextmanager
def arriving(**context) -> Iterator[None]:
    """``with arriving(form_id=3): intake_lead(...)`` lets arrival handlers see ``form_id``."""
    token = _ARRIVAL_CONTEXT.set(context)
    try:
        yield
    finally:
        _ARRIVAL_CONTEXT.reset(token)


def arrival_context() -> dict:
    return dict(_ARRIVAL_CONTEXT.get() or {})


def load_leads(ids: Iterable[int], *, organizations: bool = False) -> list[Lead]:
    """The leads of a batch, in id order, in one query (those already in the session are
    the same objects); with ``organizations``, each lead's organization too, in one more
    query for the batch (not one per lead when a handler reads it).

    A lead the session holds whole (every column loaded, nothing expired; its organization
    too, when asked) is not read again: the query would hand back the same object unchanged.
    So the handlers of one event, each loading the batch, read it once while someone holds
    the objects (the arrivals sweep holds its batch's). One that a write left with a few
    columns expired (routing's owner bumps the version) has just those read, for the batch
    in one statement, as the query would have filled in just those."""
    wanted = sorted(set(ids))
    held: dict[int, Lead] = {}
    stale: dict[int, tuple[Lead, frozenset[str]]] = {}
    for lead_id in wanted:
        lead, expired = _held(lead_id, organizations)
        if lead is not None and expired:
            stale[lead_id] = (lead, expired)
        elif lead is not None:
            held[lead_id] = lead
    held.update(_read_expired(stale))
    found = list(held.values())
    missing = [lead_id for lead_id in wanted if lead_id not in held]
    query = db.select(Lead).order_by(Lead.id)
    if organizations:
        query = query.options(selectinload(Lead.organization))
    for chunk in chunked(missing, 500):
        found.extend(db.session.scalars(query.where(Lead.id.in_(chunk))))
    return sorted(found, key=lambda lead: lead.id) if held else found


_COLUMNS: frozenset[str] = frozenset()  # the lead columns a query loads (set at first use)
_NOT_HELD = (None, frozenset())


def _held(lead_id: int, organization: bool) -> tuple[Lead | None, frozenset[str]]:
    """The session's lead and its expired columns, if it can stand for a query's (see
    ``load_leads``); (None, …) when it is not held, or is to be read whole."""
    global _COLUMNS
    lead = db.session.identity_map.get(db.session.identity_key(Lead, lead_id))
    if lead is None:
        return _NOT_HELD
    if not _COLUMNS:
        _COLUMNS = frozenset(prop.key for prop in sa_inspect(Lead).column_attrs if not prop.deferred)
    state = sa_inspect(lead)
    expired = _COLUMNS.difference(state.dict)
    if state.deleted or expired and (expired == _COLUMNS or not expired <= state.expired_attributes):
        return _NOT_HELD  # gone, or every column expired (a commit), or some never loaded
    if organization:
        if "organization" not in state.dict:
            return _NOT_HELD
        held = state.dict["organization"]
        if held is not None and sa_inspect(held).expired_attributes:
            return _NOT_HELD
    return lead, expired


def _read_expired(leads: dict[int, tuple[Lead, frozenset[str]]]) -> dict[int, Lead]:
    """Read the expired columns of ``leads`` (id → (lead, its expired columns)) in one
    statement per chunk; returns those whose rows were there (id → lead; a lead deleted
    meanwhile is left to the query)."""
    if not leads:
        return {}
    keys = sorted(frozenset().union(*(expired for _, expired in leads.values())))
    read = {}
    for chunk in chunked(sorted(leads), 500):
        for lead_id, *values in db.session.execute(db.select(Lead.id, *(getattr(Lead, key) for key in keys))
                                                   .where(Lead.id.in_(chunk))):
            lead, expired = leads[lead_id]
            for key, value in zip(keys, values):
                if key in expired:
                    attributes.set_committed_value(lead, key, value)
            read[lead_id] = lead
    return read


def _what(ids) -> str:
    ids = list(ids)
    return f"lead {ids[0]}" if len(ids) == 1 else f"{len(ids)} leads"


def leads_arrived(ids: list[int], channel: str) -> list[str]:
    """New leads by one channel, with the caller's ``arrival_context()``: ``batch_arrived``."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    context = arrival_context()
    return batch_arrived(Arrivals((lead_id, channel, context) for lead_id in ids))


def batch_arrived(arrivals: Arrivals) -> list[str]:
    """Tell every ``leads.arrived`` handler; returns the names of those that failed.

    A handler that fails on a batch of several leads runs again for each lead alone (each
    isolated), so one lead the handler cannot deal with costs only that lead its routing,
    score or alert, as when leads came one at a time."""
    if not arrivals:
        return []
    what = f"{_what(arrivals.ids)} arrived via {', '.join(arrivals.channels())}"
    failed = []
    for handler in bus.handlers(ARRIVED):
        if isolated(handler, f"On {ARRIVED} for {what}", arrivals):
            continue
        if len(arrivals) == 1 or not all([isolated(handler, f"On {ARRIVED} for lead {lead_id}", arrivals.only(lead_id))
                                          for lead_id in arrivals.ids]):
            failed.append(handler.__name__)
    return failed


def leads_moved(ids: list[int], actor, from_id: int | None, to_id: int | None) -> list[str]:
    if not ids:
        return []
    return bus.emit(MOVED, _what(ids), list(ids), actor, from_id=from_id, to_id=to_id)


def leads_changed(ids: list[int], actor, fields: Iterable[str]) -> list[str]:
    fields = list(fields)
    if not ids or not fields:
        return []
    return bus.emit(CHANGED, _what(ids), list(ids), actor, fields=fields)


def activity_added(lead: Lead, actor, activity) -> list[str]:
    return bus.emit(ACTIVITY_ADDED, f"lead {lead.id}", lead, actor, activity=activity)


def score_changed(lead: Lead, actor, old: int, new: int) -> list[str]:
    return scores_changed([ScoreChange(lead, old, new)], actor)


def scores_changed(changes: Iterable[ScoreChange], actor) -> list[str]:
    """Tell every ``score.changed`` handler about a batch of leads whose score moved."""
    changes = [ScoreChange(*change) for change in changes]
    if not changes:
        return []
    return bus.emit(SCORE_CHANGED, _what(change.lead.id for change in changes), changes, actor)
