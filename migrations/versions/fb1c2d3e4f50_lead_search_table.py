"""lead search table

The list search reads a narrow table of (lead id, search text) kept by triggers, instead
of an index on leads (deleted_at, search_text): a new lead then appends one row at the end
of that table instead of inserting into a wide index at a random place, which was the
dearest of the lead table's indexes for a bulk import, and search reads as little as before.

Revision ID: fb1c2d3e4f50
Revises: eac4d5f6a709
Create Date: 2026-11-23 16:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'fb1c2d3e4f50'
down_revision = 'eac4d5f6a709'
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER leads_search_insert AFTER INSERT ON leads BEGIN
        INSERT INTO lead_search (lead_id, text) VALUES (new.id, new.search_text);
    END""",
    """CREATE TRIGGER leads_search_update AFTER UPDATE OF search_text ON leads
    WHEN new.search_text IS NOT old.search_text BEGIN
        UPDATE lead_search SET text = new.search_text WHERE lead_id = new.id;
    END""",
    """CREATE TRIGGER leads_search_delete AFTER DELETE ON leads BEGIN
        DELETE FROM lead_search WHERE lead_id = old.id;
    END""",
)
POSTGRES_TRIGGERS = (
    """CREATE FUNCTION leads_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO lead_search (lead_id, text) VALUES (NEW.id, NEW.search_text);
        ELSIF TG_OP = 'UPDATE' THEN
            IF NEW.search_text IS DISTINCT FROM OLD.search_text THEN
                UPDATE lead_search SET text = NEW.search_text WHERE lead_id = NEW.id;
            END IF;
        ELSE
            DELETE FROM lead_search WHERE lead_id = OLD.id;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER leads_search_sync AFTER INSERT OR UPDATE OF search_text OR DELETE ON leads
    FOR EACH ROW EXECUTE FUNCTION leads_search_sync()""",
)


def upgrade():
    op.create_table('lead_search',
    sa.Column('lead_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('lead_id', name=op.f('pk_lead_search'))
    )
    op.execute("INSERT INTO lead_search (lead_id, text) SELECT id, COALESCE(search_text, '') FROM leads")
    # Not in a batch: on SQLite a batch may copy the table, and the triggers with it would go.
    op.drop_index('ix_leads_search', table_name='leads')
    triggers = POSTGRES_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade():
    op.create_index('ix_leads_search', 'leads', ['deleted_at', 'search_text'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS leads_search_sync ON leads")
        op.execute("DROP FUNCTION IF EXISTS leads_search_sync()")
    else:
        for name in ("leads_search_insert", "leads_search_update", "leads_search_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table('lead_search')
