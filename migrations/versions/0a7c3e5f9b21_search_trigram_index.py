"""search trigram index

The list search looked for each word with ``LIKE '%word%'`` over every row of ``lead_search``.
This adds a trigram index over that table so that a word of three characters or more reads
only the rows holding all its trigrams:

- on SQLite an FTS5 table (``tokenize='trigram'``, ``detail=none``: no positions, so it stays
  small) whose content is ``lead_search`` itself; triggers on ``lead_search`` keep it in step,
  and those run for every writer because triggers on ``leads`` write ``lead_search``;
- on PostgreSQL a GIN ``gin_trgm_ops`` index on ``lead_search.text`` (pg_trgm), which the
  planner uses for the same ``LIKE``.

Revision ID: 0a7c3e5f9b21
Revises: 76987b7d50ec
Create Date: 2026-12-03 17:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0a7c3e5f9b21'
down_revision = '76987b7d50ec'
branch_labels = None
depends_on = None

SQLITE_UPGRADE = (
    """CREATE VIRTUAL TABLE lead_search_fts USING fts5(
        text, content='lead_search', content_rowid='lead_id', tokenize='trigram', detail='none')""",
    "INSERT INTO lead_search_fts (lead_search_fts) VALUES ('rebuild')",
    """CREATE TRIGGER lead_search_fts_insert AFTER INSERT ON lead_search BEGIN
        INSERT INTO lead_search_fts (rowid, text) VALUES (new.lead_id, new.text);
    END""",
    """CREATE TRIGGER lead_search_fts_update AFTER UPDATE ON lead_search BEGIN
        INSERT INTO lead_search_fts (lead_search_fts, rowid, text) VALUES ('delete', old.lead_id, old.text);
        INSERT INTO lead_search_fts (rowid, text) VALUES (new.lead_id, new.text);
    END""",
    """CREATE TRIGGER lead_search_fts_delete AFTER DELETE ON lead_search BEGIN
        INSERT INTO lead_search_fts (lead_search_fts, rowid, text) VALUES ('delete', old.lead_id, old.text);
    END""",
)
SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS lead_search_fts_insert",
    "DROP TRIGGER IF EXISTS lead_search_fts_update",
    "DROP TRIGGER IF EXISTS lead_search_fts_delete",
    "DROP TABLE IF EXISTS lead_search_fts",
)
POSTGRES_UPGRADE = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_lead_search_trgm ON lead_search USING gin (text gin_trgm_ops)",
)
# The extension stays: something else may use it, and dropping it needs more rights.
POSTGRES_DOWNGRADE = ("DROP INDEX IF EXISTS ix_lead_search_trgm",)


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    for statement in POSTGRES_UPGRADE if _postgres() else SQLITE_UPGRADE:
        op.execute(statement)


def downgrade():
    for statement in POSTGRES_DOWNGRADE if _postgres() else SQLITE_DOWNGRADE:
        op.execute(statement)
