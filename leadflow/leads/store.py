"""The lead store: the one place that INSERTs rows into ``leads``.

What it owns today: adding lead rows, set-based, with the database deciding who gets an
email. Every insert is ``INSERT … ON CONFLICT (email_key) WHERE <live email> DO NOTHING``
against the partial unique index ``uq_leads_live_email_key`` (one live lead per normalised
email), on SQLite and on PostgreSQL alike, so two requests creating the same new address at
the same time make one lead: the loser's row is not inserted and the store says which live
lead already holds the email. Callers then update that lead (``leads.intake``), tell the user
(the web form, restore: ``errors.EmailTaken``) or report the row (the import).

Writers that insert through it: ``leads.services.create_lead`` (web form, API, capture
forms, the CLI), and the import's chunk writer (``imports.runner.ChunkWriter``, driver-level
``executemany`` for speed, through ``insert_rows``).

Still to move here (issue 14): the demo seeder's Core inserts (``demo.py``, which reserves
ids and never repeats an email), the derived columns (``search_text``, board rank,
``stage_entered_at``, lifecycle on a won stage) that ``services._apply`` and the import still
compute each their own way, stage changes and lead activities, updates, moves, trash and
restore, and the batched events that would replace the per-lead ``lead_arrived``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from leadflow.extensions import db
from leadflow.leads.models import LIVE_EMAIL_WHERE, Lead

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
