"""home page: kept figures of closed months, and indexes the live month reads

``monthly_figures``: one row per scope (a person, a team, everyone), time zone and closed
month, unique in the database. ``ix_leads_won_entered``, ``ix_leads_created_response`` and
``ix_leads_owner_created_response`` hold every column the current month's won leads and median
first response read; ``ix_leads_hot_quiet`` (live leads by temperature, then quiet longest)
gives "Today" everyone's hot leads in the order it shows them.

Revision ID: 7d3f1a9c5e28
Revises: 4b7e2c9d1a60
Create Date: 2026-12-03 23:50:00

"""
import sqlalchemy as sa
from alembic import op

from leadflow.db import UTCDateTime, refresh_statistics
from leadflow.leads.models import HOT_QUIET_INDEX

revision = '7d3f1a9c5e28'
down_revision = '4b7e2c9d1a60'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'monthly_figures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scope_kind', sa.String(length=8), nullable=False),
        sa.Column('scope_id', sa.Integer(), nullable=False),
        sa.Column('zone', sa.String(length=64), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('won_count', sa.Integer(), nullable=False),
        sa.Column('won', sa.JSON(), nullable=False),
        sa.Column('response_seconds', sa.Integer(), nullable=True),
        sa.Column('pipeline', sa.JSON(), nullable=False),
        sa.Column('computed_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_monthly_figures')),
        sa.UniqueConstraint('scope_kind', 'scope_id', 'zone', 'month', name='uq_monthly_figures_scope_zone_month'),
    )
    op.create_index('ix_leads_won_entered', 'leads',
                    ['stage_id', 'stage_entered_at', 'owner_id', 'deleted_at', 'currency', 'value_cents'], unique=False)
    op.create_index('ix_leads_created_response', 'leads',
                    ['created_at', 'owner_id', 'deleted_at', 'first_response_at'], unique=False)
    op.create_index('ix_leads_owner_created_response', 'leads',
                    ['owner_id', 'created_at', 'deleted_at', 'first_response_at'], unique=False)
    # Everyone's hot leads with no next step, the longest quiet first: a walk in that order that
    # stops at the page's few rows. PostgreSQL puts NULLs (never touched) first only when told.
    nulls_first = " NULLS FIRST" if op.get_bind().dialect.name == "postgresql" else ""
    op.execute(f"CREATE INDEX {HOT_QUIET_INDEX} ON leads (temperature, last_activity_at{nulls_first}, id) "
               "WHERE deleted_at IS NULL")
    # New indexes without statistics steer SQLite's planner away from the home page's plans
    # for everyone's hot leads (ten times slower at 100,000 leads): give them some.
    refresh_statistics(op.get_bind(), ["leads"])


def downgrade():
    op.execute(f"DROP INDEX {HOT_QUIET_INDEX}")
    op.drop_index('ix_leads_owner_created_response', table_name='leads')
    op.drop_index('ix_leads_created_response', table_name='leads')
    op.drop_index('ix_leads_won_entered', table_name='leads')
    op.drop_table('monthly_figures')
