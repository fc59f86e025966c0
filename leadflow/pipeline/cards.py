"""Board cards read for drawing: plain objects from one query, not ORM leads.

A default board draws 175 cards; building 175 ORM leads with their owners and organizations
was a third of its time. A ``Card`` has the attributes the card template reads (the same
names as ``Lead``'s, so a move's answer can draw a real lead with the same macro), filled
from one SELECT of the columns below with the owner's and organization's names joined in,
plus one query for the tags when cards show them; each card's next task comes in the same
statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam
from sqlalchemy.sql.expression import SelectBase

from leadflow.accounts.models import User
from leadflow.activities.queries import (NextTask, next_open_tasks, next_open_tasks_alongside, next_open_tasks_of,
                                        with_next_open_task)
from leadflow.db import Alongside
from leadflow.extensions import db
from leadflow.leads.models import Lead, Tag, lead_tags
from leadflow.organizations.models import Organization
from leadflow.pipeline.models import Stage

# The columns a card shows or decides with (policy, rotting, stale, "load more", its extra fields).
CARD_COLUMNS = ("id", "first_name", "last_name", "version", "temperature", "owner_id", "organization_id",
                "pipeline_id", "stage_id", "stage_entered_at", "value_cents", "currency", "last_activity_at",
                "created_at", "board_rank", "deleted_at", "source", "expected_close_date", "score", "lifecycle")


class Named:
    """An owner or organization as a card shows it."""

    __slots__ = ("name", "email")
    initials = property(User.initials.fget)  # the same rule as a user's

    def __init__(self, name: str, email: str | None = None):
        self.name, self.email = name, email


class Card:
    """One lead as its card needs it (see the module's docstring)."""

    __slots__ = (*CARD_COLUMNS, "owner", "organization", "stage", "tags", "_next_task")
    name = property(Lead.name.fget)  # the same rule as a lead's


def load_cards(ids: Sequence[int] | SelectBase, stages: dict[int, Stage], *, with_tags: bool,
               with_next_tasks: bool = True) -> dict[int, Card]:
    """The cards of the leads ``ids`` (a list, or a SELECT of lead ids: the board's columns) by
    id, each with its stage (from ``stages``), owner, organization and, as asked, its tags and
    its next task."""
    if isinstance(ids, SelectBase):
        return read_cards(card_statement(ids, with_next_tasks=with_next_tasks), stages, with_tags=with_tags,
                          with_next_tasks=with_next_tasks)
    ids = list(ids)
    if not ids:
        return {}
    return read_cards(_BY_ID[with_next_tasks], stages, {"card_ids": ids}, with_tags=with_tags,
                      with_next_tasks=with_next_tasks)


def card_statement(picked, *, with_next_tasks: bool = True):
    """The SELECT ``read_cards`` reads the cards of the leads ``picked`` (a SELECT of their ids,
    or an expanding parameter) with; a statement that does not change is built once and kept."""
    table = Lead.__table__
    query = (db.select(*(table.c[name] for name in CARD_COLUMNS), User.name, User.email, Organization.name)
             .outerjoin(User, User.id == table.c.owner_id)
             .outerjoin(Organization, Organization.id == table.c.organization_id)
             .where(table.c.id.in_(picked)))
    # the next tasks in the same statement: a round trip and 175 ids sent back less per board
    return with_next_open_task(query, table.c.id) if with_next_tasks else query


# The cards of a list of ids (an expanding parameter: a column's next page, a card drawn alone),
# with and without their next tasks: built once.
_BY_ID = {with_next_tasks: card_statement(bindparam("card_ids", expanding=True), with_next_tasks=with_next_tasks)
          for with_next_tasks in (True, False)}


def read_cards(statement, stages: dict[int, Stage], params: dict | None = None, *, with_tags: bool,
               with_next_tasks: bool = True) -> dict[int, Card]:
    """``load_cards`` with a ``card_statement`` made before (and its ``params``)."""
    cards: dict[int, Card] = {}
    width = len(CARD_COLUMNS)
    for row in db.session.execute(statement, params):
        card = Card()
        for name, value in zip(CARD_COLUMNS, row):
            setattr(card, name, value)
        owner_name, owner_email, organization_name = row[width:width + 3]
        card.owner = Named(owner_name, owner_email) if card.owner_id is not None and owner_name is not None else None
        card.organization = Named(organization_name) if organization_name is not None else None
        card.stage = stages.get(card.stage_id)
        card.tags = []
        if with_next_tasks:
            task_id, kind, title, due_at = row[width + 3:]
            card._next_task = None if task_id is None else NextTask(card.id, task_id, kind, title, due_at)
        cards[card.id] = card
    if with_tags:
        for lead_id, tag_name in db.session.execute(
                db.select(lead_tags.c.lead_id, Tag.name).join(Tag, Tag.id == lead_tags.c.tag_id)
                .where(lead_tags.c.lead_id.in_(list(cards))).order_by(Tag.name_key)):
            cards[lead_id].tags.append(Named(tag_name))
    return cards


def attach_next_tasks(leads: Iterable) -> None:
    """Give each card its earliest open task, for all of them in one query."""
    leads = list(leads)
    found = next_open_tasks(lead.id for lead in leads)
    for lead in leads:
        lead._next_task = found.get(lead.id)


def next_task_alongside(lead) -> Alongside:
    """The query of the card's next task, for another read to take along (a move's headers)."""
    return next_open_tasks_alongside([lead.id])


def keep_next_task(lead, alongside: Alongside) -> None:
    """The card's next task from ``next_task_alongside``'s rows, if they were read."""
    if alongside.rows is not None:
        lead._next_task = next_open_tasks_of(alongside.rows).get(lead.id)


def next_task_of(lead):
    """The card's next task; loaded here only for a card drawn alone (a move's answer)."""
    if getattr(lead, "_next_task", _UNSET) is _UNSET:
        attach_next_tasks([lead])
    return lead._next_task


_UNSET = object()
