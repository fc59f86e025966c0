"""one live lead per email

A partial unique index on leads(email_key) for live leads that have an email, so concurrent
requests cannot create two leads for one new address (the database decides, not a look-up
before the insert).

A database may already hold live leads sharing an email. Nothing is deleted or merged here:
the oldest such lead (lowest id) keeps the key; each newer one keeps its email as typed, has
its email_key emptied and the key moved to the new column shared_email_key. The duplicates
queue pairs a lead's shared_email_key with the holder's email_key ("same email"), so a person
still sees and merges them; merging, or changing that lead's email, clears it.

Phones stay non-unique on purpose (switchboards, households): see docs/RELIABILITY.md.

Revision ID: 3e5a9c1d7b20
Revises: c5d1e2f3a4b6
Create Date: 2026-12-03 02:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3e5a9c1d7b20'
down_revision = 'c5d1e2f3a4b6'
branch_labels = None
depends_on = None

LIVE_EMAIL_WHERE = "deleted_at IS NULL AND email_key IS NOT NULL"


def upgrade():
    # Not in a batch: on SQLite a batch may copy the table, and the lead_search triggers with it.
    op.add_column('leads', sa.Column('shared_email_key', sa.String(length=254), nullable=True))
    op.create_index(op.f('ix_leads_shared_email_key'), 'leads', ['shared_email_key'], unique=False)
    # Newer live leads with the email of an older live lead give up the key (the oldest one
    # never changes, so every newer one finds it, whatever order the rows are updated in).
    op.execute(
        "UPDATE leads SET shared_email_key = email_key, email_key = NULL "
        "WHERE deleted_at IS NULL AND email_key IS NOT NULL AND EXISTS ("
        "SELECT 1 FROM leads AS older WHERE older.email_key = leads.email_key "
        "AND older.deleted_at IS NULL AND older.id < leads.id)")
    op.create_index('uq_leads_live_email_key', 'leads', ['email_key'], unique=True,
                    sqlite_where=sa.text(LIVE_EMAIL_WHERE), postgresql_where=sa.text(LIVE_EMAIL_WHERE))


def downgrade():
    op.drop_index('uq_leads_live_email_key', table_name='leads')
    op.execute("UPDATE leads SET email_key = shared_email_key WHERE shared_email_key IS NOT NULL")
    op.drop_index(op.f('ix_leads_shared_email_key'), table_name='leads')
    op.drop_column('leads', 'shared_email_key')  # SQLite 3.35+ drops it in place
