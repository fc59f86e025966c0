"""The lead store: the one place that writes lead rows, their stage history, the timeline
entries a write makes, and the board's stage totals; and that tells the other areas.

Every write is set-based: one statement for a batch of leads, whatever its size, on SQLite
and PostgreSQL alike, and the totals change by what the batch added or took away
(``UPDATE … SET n = n + :delta``), so concurrent writers never lose an update. After the
write, one event for the batch (``leads.events``: ``leads_arrived``, ``leads_moved``,
``leads_changed``).

- Inserting (``insert_leads``): ``INSERT … ON CONFLICT (email_key) WHERE <live email> DO
  NOTHING`` against the partial unique index ``uq_leads_live_email_key`` (one live lead per
  normalised email), so two requests creating the same new address at the same time make
  one lead: the loser's row is not inserted and the store says which live lead already holds
  the email. Callers then update that lead (``leads.intake``), tell the user (the web form,
  restore: ``errors.EmailTaken``) or report the row (the import).
- Moving (``move_leads``): the board, the lead form, the API and a stage deleted with its
  leads all move leads here: stage, pipeline, time entered, lifecycle on a won stage, a
  ``StageChange`` row and a timeline entry per lead, the totals of both stages, then
  ``leads.moved``.
- System changes (``update_columns``): a column the system sets (scoring's temperature and
  lifecycle, routing's owner) is written here and announced with ``leads.changed`` like a
  person's edit, so a workflow rule on "temperature changes" fires whoever changed it.

Still to move here (issue 14): the demo seeder's Core inserts, the ORM edits of
``services.update_lead`` (value, currency, trash and restore still reach the totals through
``pipeline.totals``' flush hook), and the import's derived columns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, String, and_, cast, func, literal, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import attributes

from leadflow.accounts.models import User
from leadflow.activities.models import Activity
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.governance.audit import record_event
from leadflow.leads import events
from leadflow.leads.fields import search_text_for
from leadflow.leads.models import LIVE_EMAIL_WHERE, Lead, lead_tags
from leadflow.pipeline.models import Stage, StageChange
from leadflow.pipeline.totals import add_to_totals

# Ids per statement: well under every driver's limit on bound parameters.
CHUNK = 1000

# The clause every lead insert ends with (raw SQL writers append it to their VALUES).
ON_EMAIL_CONFLICT = f"ON CONFLICT (email_key) WHERE {LIVE_EMAIL_WHERE} DO NOTHING"


@dataclass
class InsertedLeads:
    """What ``insert_leads`` did with each row, by its position in the rows given."""

    ids: list[int | None]  # the new lead's id, or None when the row was not inserted
    taken: dict[int, int] = field(default_factory=dict)  # position → id of the live lead holding its email

    @property
    def inserted(self) -> list[int]:
        return [i for i in self.ids if i is not None]


def _insert():
    return (pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert)(Lead.__table__)


def _on_conflict(statement):
    return statement.on_conflict_do_nothing(index_elements=[Lead.__table__.c.email_key],
                                            index_where=text(LIVE_EMAIL_WHERE))


def email_holders(email_keys: Sequence[str], exclude_id: int | None = None) -> dict[str, int]:
    """email key → id of the live lead that holds it (at most one each, the index says so)."""
    keys = sorted({k for k in email_keys if k})
    found: dict[str, int] = {}
    table = Lead.__table__
    for start in range(0, len(keys), 500):
        query = db.select(table.c.email_key, table.c.id).where(
            table.c.email_key.in_(keys[start:start + 500]), table.c.deleted_at.is_(None))
        if exclude_id is not None:
            query = query.where(table.c.id != exclude_id)
        found.update(db.session.execute(query).all())
    return found


def insert_leads(rows: Sequence[dict]) -> InsertedLeads:
    """Insert lead rows (column → value, the same columns in every row; the others take their
    defaults), skipping any
    whose email a live lead already has, that lead committed earlier or in a transaction
    that commits while this one waits for it (PostgreSQL waits on the index entry; SQLite
    has one writer at a time). Two rows of ``rows`` with one email: the first one wins.

    Rows with an email go in one ``INSERT … ON CONFLICT DO NOTHING RETURNING id, email_key``
    (matched back by their key); rows without one cannot conflict and go in one ordered
    ``INSERT … RETURNING id``. Flushes nothing of the ORM session; the caller commits.
    """
    ids: list[int | None] = [None] * len(rows)
    with_email = [i for i, row in enumerate(rows) if row.get("email_key")]
    without = [i for i, row in enumerate(rows) if not row.get("email_key")]
    table = Lead.__table__
    if with_email:
        by_key = dict(db.session.execute(_on_conflict(_insert()).returning(table.c.email_key, table.c.id),
                                         [rows[i] for i in with_email]).all())
        claimed: set[str] = set()
        for i in with_email:
            key = rows[i]["email_key"]
            if key in by_key and key not in claimed:
                ids[i] = by_key[key]
                claimed.add(key)
    if without:
        new_ids = db.session.execute(
            _insert().returning(table.c.id, sort_by_parameter_order=True), [rows[i] for i in without]).scalars().all()
        for i, lead_id in zip(without, new_ids):
            ids[i] = lead_id
    missed = [i for i in with_email if ids[i] is None]
    holders = email_holders([rows[i]["email_key"] for i in missed]) if missed else {}
    taken = {i: holders[rows[i]["email_key"]] for i in missed if rows[i]["email_key"] in holders}
    return InsertedLeads(ids, taken)


def insert_rows(raw, columns: list[str], rows: list[tuple]) -> None:
    """The import's fast path: ``rows`` (tuples in ``columns`` order) through the driver's
    ``executemany`` (``imports.rawsql.RawWriter``), with the same ``ON CONFLICT`` as
    ``insert_leads``. The caller reads the new ids back (the import by job and board rank);
    a row not found there was not inserted because a live lead has its email."""
    raw.insert_many(Lead.__table__, columns, rows, suffix=ON_EMAIL_CONFLICT)


# --- creating -------------------------------------------------------------------------------

def new_card_rank(at: datetime | None = None, offset: int = 0) -> float:
    """New leads go on top of their board column: ranks ascend, so newer is smaller (the
    ``offset``-th of a batch sits above the one before it)."""
    return -((at or utcnow()).timestamp() + offset * 1e-6)


def derive(row: dict, *, organization_name: str | None, stage: Stage | None, at: datetime, offset: int = 0) -> dict:
    """Every column of a new lead that is computed from its other values: where it sits on the
    board, its pipeline and time in stage, "customer" on a won stage, and its search text.
    The one place these are decided (the import's chunk writer derives the same from the same
    function, ``search_text``)."""
    row = dict(row)
    row["stage_id"] = stage.id if stage is not None else None
    row["pipeline_id"] = stage.pipeline_id if stage is not None else None
    row["stage_entered_at"] = at if stage is not None else None
    if stage is not None and stage.kind == "won":
        row["lifecycle"] = "customer"
    row.setdefault("board_rank", new_card_rank(at, offset))
    row["search_text"] = search_text(row, organization_name)
    return row


def search_text(row: dict, organization_name: str | None) -> str:
    return search_text_for(row.get("first_name") or "", row.get("last_name") or "", row.get("email"),
                           row.get("phone"), organization_name, custom_fields=row.get("custom_fields"))


@dataclass
class NewLead:
    """One lead to create: its column values (cleaned), and what is kept beside the row."""

    values: dict
    organization_name: str | None = None
    tag_ids: list[int] = field(default_factory=list)


def create_leads(new: Sequence[NewLead], actor, channel: str, *, at: datetime | None = None,
                 note_owner: bool = False, audit: bool = False) -> InsertedLeads:
    """Add leads, set-based: the rows (``insert_leads``: a lead whose email a live lead holds
    is not added, and ``taken`` says which lead holds it), their tags, a ``StageChange`` and a
    "Lead created" timeline entry each (with ``note_owner``, an "Assigned to" entry first for
    those given an owner), an audit entry each with ``audit``, the board totals; then
    ``leads.arrived`` for the batch, with the channel it came through."""
    at = at or utcnow()
    stages = {s.id: s for s in db.session.scalars(db.select(Stage).where(
        Stage.id.in_({n.values["stage_id"] for n in new if n.values.get("stage_id")})))}
    rows = [derive(n.values, organization_name=n.organization_name, stage=stages.get(n.values.get("stage_id")),
                   at=at, offset=i) for i, n in enumerate(new)]
    if len({frozenset(row) for row in rows}) > 1:
        raise ValueError("every new lead of a batch gives the same columns")
    result = insert_leads(rows)
    added = [(lead_id, n, row) for lead_id, n, row in zip(result.ids, new, rows) if lead_id is not None]
    if not added:
        return result
    actor_id = getattr(actor, "id", None)
    links = [{"lead_id": lead_id, "tag_id": tag_id} for lead_id, n, _ in added for tag_id in n.tag_ids]
    if links:
        db.session.execute(lead_tags.insert(), links)
    changes = [{"lead_id": lead_id, "from_stage_id": None, "to_stage_id": row["stage_id"], "actor_id": actor_id,
                "at": at} for lead_id, _, row in added if row["stage_id"] is not None]
    if changes:
        db.session.execute(StageChange.__table__.insert(), changes)
    entries = []
    if note_owner:
        owners = dict(db.session.execute(db.select(User.id, User.name).where(
            User.id.in_({row["owner_id"] for _, _, row in added if row.get("owner_id")}))).all())
        entries += [_entry(lead_id, "assignment", actor_id, f"Assigned to {owners.get(row['owner_id'], 'nobody')}", at)
                    for lead_id, _, row in added if row.get("owner_id")]
    entries += [_entry(lead_id, "system", actor_id, "Lead created", at) for lead_id, _, _ in added]
    db.session.execute(Activity.__table__.insert(), entries)
    if audit:
        for lead_id, _, row in added:
            record_event(actor, "lead", lead_id, "create", f"{row['first_name']} {row['last_name']}".strip())
    ids = [lead_id for lead_id, _, _ in added]
    _write_totals({}, _contributions([Lead.__table__.c.id.in_(chunk) for chunk in _chunks(ids)]))
    events.leads_arrived(ids, channel)
    return result


def _entry(lead_id: int, kind: str, actor_id: int | None, subject: str, at: datetime) -> dict:
    return {"lead_id": lead_id, "kind": kind, "actor_id": actor_id, "subject": subject[:200], "occurred_at": at,
            "created_at": at}


def add_timeline_entry(lead_id: int, kind: str, actor, subject: str, at: datetime | None = None) -> Activity:
    """One entry the system writes on a lead's timeline (an assignment, a merge, a note)."""
    activity = Activity(lead_id=lead_id, kind=kind, actor_id=getattr(actor, "id", None), subject=subject,
                        occurred_at=at or utcnow())
    db.session.add(activity)
    return activity


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start:start + CHUNK])


def _contributions(selections: Sequence[ColumnElement[bool]]) -> dict[tuple[int, str], list[int]]:
    """What the leads picked add to the board totals now: (stage id, currency) → [leads, leads
    with a value, value cents]; trashed leads and leads without a stage add nothing."""
    table = Lead.__table__
    found: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for picked in selections:
        for stage_id, currency, count, valued, cents in db.session.execute(
                db.select(table.c.stage_id, table.c.currency, func.count(table.c.id), func.count(table.c.value_cents),
                          func.coalesce(func.sum(table.c.value_cents), 0))
                .where(picked, table.c.deleted_at.is_(None), table.c.stage_id.is_not(None))
                .group_by(table.c.stage_id, table.c.currency)):
            row = found[stage_id, currency]
            row[0] += count
            row[1] += valued
            row[2] += int(cents)
    return found


def _write_totals(before: dict, after: dict) -> None:
    """Add to the board totals what a write changed: ``after`` minus ``before``."""
    deltas: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for sign, contributions in ((-1, before), (1, after)):
        for key, values in contributions.items():
            delta = deltas[key]
            for i, value in enumerate(values):
                delta[i] += sign * value
    add_to_totals(db.session.connection(), deltas)


def expire_leads(ids: Iterable[int]) -> None:
    """Lead objects of this session that a set-based write changed show the row again when next read."""
    wanted = set(ids)
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Lead) and obj.id in wanted:
            db.session.expire(obj)


def _typed(value, column):
    """A bound value of a column's type, for INSERT … SELECT (typed even when it is NULL)."""
    return cast(literal(value, column.type), column.type) if value is None else literal(value, column.type)


def move_leads(ids: Sequence[int] | ColumnElement[bool], stage: Stage | None, actor, *, note: str | None = None,
               at: datetime | None = None, bump_version: bool = True) -> dict[int | None, list[int]]:
    """Move leads to ``stage`` (those already in it stay as they are; None: out of every
    pipeline); returns the ids moved, by the stage each came from. ``ids`` is a list of lead
    ids, or a condition on ``leads`` ("every lead in the stage being deleted"), which keeps
    the number of statements the same however many leads it picks.

    The picked rows are locked first (PostgreSQL: a person moving one of them meanwhile
    waits, then gets a version conflict). Then, per stage the leads come from, one INSERT …
    SELECT each writes the ``StageChange`` rows and the timeline entries ("Moved from A to B",
    with ``note`` after it); one UPDATE sets stage, pipeline, the time it entered the stage
    and, for a won stage, the lifecycle "customer"; the totals of the stages left and entered
    change by what moved. Then ``leads.moved`` once per stage the leads came from. The caller
    checks who may move them. ``bump_version`` False: the caller's own write of the same
    change bumped the version already.
    """
    at = at or utcnow()
    table = Lead.__table__
    to_id = stage.id if stage is not None else None
    if isinstance(ids, ColumnElement):
        selections = [ids]
    else:
        selections = [table.c.id.in_(chunk) for chunk in _chunks(sorted(set(ids)))]
    selections = [and_(picked, _not_in(table.c.stage_id, to_id)) for picked in selections]
    by_from: dict[int | None, list[int]] = defaultdict(list)
    db.session.flush()  # pending ORM changes reach the rows first: the statements below see them
    for picked in selections:
        for lead_id, from_id in db.session.execute(
                db.select(table.c.id, table.c.stage_id).where(picked).order_by(table.c.id).with_for_update()):
            by_from[from_id].append(lead_id)
    moved = [lead_id for group in by_from.values() for lead_id in group]
    if not moved:
        return {}
    # A move changes no value or currency: what leaves a stage arrives in the other.
    before = _contributions(selections)
    after: dict = {(to_id, currency): counts for (_, currency), counts in before.items()} if to_id else {}
    names = dict(db.session.execute(db.select(Stage.id, Stage.name).where(
        Stage.id.in_([s for s in by_from if s is not None]))).all())
    changes, activities = StageChange.__table__, Activity.__table__
    actor_id = _typed(getattr(actor, "id", None), changes.c.actor_id)
    for from_id in by_from:
        subject = (f"Moved from {names.get(from_id, '?')} to {stage.name if stage else 'no stage'}"
                   + (f" ({note})" if note else ""))
        for picked in selections:
            from_here = and_(picked, table.c.stage_id.is_(None) if from_id is None else table.c.stage_id == from_id)
            db.session.execute(changes.insert().from_select(
                ["lead_id", "from_stage_id", "to_stage_id", "actor_id", "at"],
                db.select(table.c.id, _typed(from_id, changes.c.from_stage_id), _typed(to_id, changes.c.to_stage_id),
                          actor_id, literal(at, changes.c.at.type)).where(from_here)))
            if from_id is not None:
                db.session.execute(activities.insert().from_select(
                    ["lead_id", "kind", "actor_id", "subject", "occurred_at", "created_at"],
                    db.select(table.c.id, literal("stage_change", String), actor_id, literal(subject[:200], String),
                              literal(at, activities.c.occurred_at.type), literal(at, activities.c.created_at.type))
                    .where(from_here)))
    values = {"stage_id": to_id, "pipeline_id": stage.pipeline_id if stage else None,
              "stage_entered_at": at if stage else None, "updated_at": at}
    if bump_version:
        values["version"] = table.c.version + 1
    if stage is not None and stage.kind == "won":
        values["lifecycle"] = "customer"
    for picked in selections:
        db.session.execute(table.update().where(picked).values(**values))
    _write_totals(before, after)
    expire_leads(moved)
    for from_id, group in by_from.items():
        if from_id is not None:
            events.leads_moved(group, actor, from_id, to_id)
    return dict(by_from)


def _not_in(column, value):
    """``column IS DISTINCT FROM value`` (NULL differs from a value, not from NULL), on both databases."""
    return column.is_not(None) if value is None else ((column != value) | column.is_(None))


def update_columns(ids: Sequence[int], values: dict, actor, *, announce: Iterable[str] = (),
                   bump_version: bool = False) -> None:
    """Set columns the system computes (a score, a temperature, an owner, a consent withdrawn)
    on leads, in one UPDATE per batch, without a version bump unless asked (a person's open
    editor on the lead must not fail for a score that moved); then ``leads.changed`` with
    ``announce``, the fields a person would say changed. Columns that count on the board
    (stage, value, currency, trash) are not written here: ``move_leads`` and the lead services
    own them. Lead objects of this session show the new values."""
    counted = {"stage_id", "value_cents", "currency", "deleted_at"} & set(values)
    if counted:
        raise ValueError(f"update_columns cannot write {sorted(counted)}")
    ids = sorted(set(ids))
    table = Lead.__table__
    written = {**values, "version": table.c.version + 1} if bump_version else values
    for chunk in _chunks(ids):
        db.session.execute(table.update().where(table.c.id.in_(chunk)).values(**written))
    _show_written(ids, values, bump_version)
    events.leads_changed(ids, actor, announce)


# A column and the relationship it loads: writing the one makes the other stale.
_RELATED = {"owner_id": "owner", "organization_id": "organization", "stage_id": "stage"}


def _show_written(ids: Sequence[int], values: dict, bump_version: bool) -> None:
    wanted = set(ids)
    stale = [_RELATED[key] for key in values if key in _RELATED] + (["version"] if bump_version else [])
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Lead) and obj.id in wanted:
            for key, value in values.items():
                attributes.set_committed_value(obj, key, value)
            if stale:
                db.session.expire(obj, stale)
