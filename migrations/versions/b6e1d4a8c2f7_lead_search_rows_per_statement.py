"""lead search rows written once per statement on PostgreSQL

A new lead's ``lead_search`` row was written by a row-level trigger: one PL/pgSQL call and
one ``INSERT … VALUES`` for each lead. The CSV import inserts 5,000 leads a statement, so
that was 5,000 calls and statements a chunk. An ``AFTER INSERT … FOR EACH STATEMENT`` trigger
with a transition table writes the statement's new leads' rows with one ``INSERT … SELECT``,
at the same moment (the end of the inserting statement) and in the same transaction. Updates
and deletes keep the row-level trigger (a transition table cannot serve ``UPDATE OF`` a
column). SQLite is unchanged: its triggers run inside the inserting statement anyway.

Revision ID: b6e1d4a8c2f7
Revises: 9a4c2e6b8d13
Create Date: 2026-12-05 07:00:00

"""
from alembic import op


revision = 'b6e1d4a8c2f7'
down_revision = '9a4c2e6b8d13'
branch_labels = None
depends_on = None

UPGRADE = (
    """CREATE FUNCTION leads_search_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO lead_search (lead_id, text) SELECT id, search_text FROM new_leads;
        RETURN NULL;
    END $$""",
    # leads_search_sync() keeps its INSERT branch, no longer reached: the downgrade then only
    # puts the triggers back.
    "DROP TRIGGER leads_search_sync ON leads",
    """CREATE TRIGGER leads_search_sync AFTER UPDATE OF search_text OR DELETE ON leads
    FOR EACH ROW EXECUTE FUNCTION leads_search_sync()""",
    """CREATE TRIGGER leads_search_insert AFTER INSERT ON leads REFERENCING NEW TABLE AS new_leads
    FOR EACH STATEMENT EXECUTE FUNCTION leads_search_insert()""",
)
DOWNGRADE = (
    "DROP TRIGGER leads_search_insert ON leads",
    "DROP FUNCTION leads_search_insert()",
    "DROP TRIGGER leads_search_sync ON leads",
    """CREATE TRIGGER leads_search_sync AFTER INSERT OR UPDATE OF search_text OR DELETE ON leads
    FOR EACH ROW EXECUTE FUNCTION leads_search_sync()""",
)


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    if _postgres():
        for statement in UPGRADE:
            op.execute(statement)


def downgrade():
    if _postgres():
        for statement in DOWNGRADE:
            op.execute(statement)
