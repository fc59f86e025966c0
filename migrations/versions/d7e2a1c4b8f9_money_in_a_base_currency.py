"""money in a base currency: exchange rates and stage totals per currency

Totals used to add every lead's value whatever its currency. Now:

- ``exchange_rates``: what one unit of a currency is worth in a base currency, exact
  (NUMERIC(18, 8)), with when and by whom it was set; one rate per base and currency.
- ``stage_currency_totals``: each stage's live leads and value per currency, counted here once
  from the leads (the stage totals a database already has are left as they are; the board
  makes its money totals from these rows and converts them when it shows them).
- the forecast's index and the board's index by owner also cover the currency, so the
  forecast's and a filtered board's per-currency sums stay index-only.

The base currency is a setting (``base_currency``); until an admin chooses one it is the
default currency of new leads, so nothing needs writing for it here.

Revision ID: d7e2a1c4b8f9
Revises: 3e5a9c1d7b20
Create Date: 2026-12-03 07:30:00

"""
from alembic import op
import sqlalchemy as sa

import leadflow.db


# revision identifiers, used by Alembic.
revision = 'd7e2a1c4b8f9'
down_revision = '3e5a9c1d7b20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('exchange_rates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('base_currency', sa.String(length=3), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('rate', sa.Numeric(precision=18, scale=8), nullable=False),
    sa.Column('set_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('set_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('rate > 0', name=op.f('ck_exchange_rates_rate_positive')),
    sa.CheckConstraint('currency <> base_currency', name=op.f('ck_exchange_rates_not_the_base')),
    sa.ForeignKeyConstraint(['set_by_id'], ['users.id'], name=op.f('fk_exchange_rates_set_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_rates')),
    sa.UniqueConstraint('base_currency', 'currency', name='uq_exchange_rates_base_currency')
    )
    op.create_table('stage_currency_totals',
    sa.Column('stage_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('lead_count', sa.Integer(), nullable=False),
    sa.Column('value_count', sa.Integer(), nullable=False),
    sa.Column('value_cents', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['stage_id'], ['stages.id'], name=op.f('fk_stage_currency_totals_stage_id_stages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('stage_id', 'currency', name=op.f('pk_stage_currency_totals'))
    )
    op.execute(
        "INSERT INTO stage_currency_totals (stage_id, currency, lead_count, value_count, value_cents) "
        "SELECT stage_id, currency, COUNT(id), COUNT(value_cents), COALESCE(SUM(value_cents), 0) FROM leads "
        "WHERE deleted_at IS NULL AND stage_id IS NOT NULL GROUP BY stage_id, currency"
    )
    # Not in a batch: on SQLite a batch may copy the table, and the lead_search triggers with it.
    op.drop_index('ix_leads_forecast', table_name='leads')
    op.create_index('ix_leads_forecast', 'leads', ['stage_id', 'deleted_at', 'expected_close_date', 'currency', 'value_cents'], unique=False)
    op.drop_index('ix_leads_owner_stage', table_name='leads')
    op.create_index('ix_leads_owner_stage', 'leads', ['owner_id', 'stage_id', 'deleted_at', 'board_rank', 'id', 'value_cents', 'currency'], unique=False)


def downgrade():
    op.drop_index('ix_leads_owner_stage', table_name='leads')
    op.create_index('ix_leads_owner_stage', 'leads', ['owner_id', 'stage_id', 'deleted_at', 'board_rank', 'id', 'value_cents'], unique=False)
    op.drop_index('ix_leads_forecast', table_name='leads')
    op.create_index('ix_leads_forecast', 'leads', ['stage_id', 'deleted_at', 'expected_close_date', 'value_cents'], unique=False)
    op.drop_table('stage_currency_totals')
    op.drop_table('exchange_rates')
