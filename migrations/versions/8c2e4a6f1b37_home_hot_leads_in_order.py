"""home page: hot leads read in the page's order and counted from the index alone

``ix_leads_owner_hot_quiet`` (a person's live leads by temperature, then the longest quiet
first) replaces ``ix_leads_owner_temperature``: a person's hot leads with no next step are a
walk in the page's order that stops at its rows, whoever the person is, so one plan suits
every owner (PostgreSQL keeps one generic plan for the statement instead of planning it on
every request). It and ``ix_leads_hot_quiet`` (everyone's) end with the columns the capped
count of hot leads in an open stage filters on, so it reads the index alone: everyone's read
a thousand lead rows to count a hundred at 100,000 leads (SQLite 1.8 ms, now 0.06).

Revision ID: 8c2e4a6f1b37
Revises: 6a1c3e5b7d29
Create Date: 2026-12-04 23:30:00

"""
from alembic import op

from leadflow.db import refresh_statistics
from leadflow.leads.models import HOT_QUIET_INDEX, OWNER_HOT_QUIET_INDEX

revision = '8c2e4a6f1b37'
down_revision = '6a1c3e5b7d29'
branch_labels = None
depends_on = None

# What the count reads besides the order: the stage and lifecycle it filters on, and deleted_at,
# always NULL here, without which SQLite does not take the index as covering the statement.
COUNTED = "stage_id, lifecycle, deleted_at"


def _nulls_first() -> str:
    """PostgreSQL puts NULLs (never touched) first only when told; SQLite's ascending order
    does, and its CREATE INDEX does not take the words."""
    return " NULLS FIRST" if op.get_bind().dialect.name == "postgresql" else ""


def upgrade():
    nulls_first = _nulls_first()
    op.drop_index('ix_leads_owner_temperature', table_name='leads')
    op.execute(f"CREATE INDEX {OWNER_HOT_QUIET_INDEX} ON leads "
               f"(owner_id, temperature, last_activity_at{nulls_first}, id, {COUNTED}) WHERE deleted_at IS NULL")
    op.execute(f"DROP INDEX {HOT_QUIET_INDEX}")
    op.execute(f"CREATE INDEX {HOT_QUIET_INDEX} ON leads "
               f"(temperature, last_activity_at{nulls_first}, id, {COUNTED}) WHERE deleted_at IS NULL")
    refresh_statistics(op.get_bind(), ["leads"])


def downgrade():
    nulls_first = _nulls_first()
    op.execute(f"DROP INDEX {HOT_QUIET_INDEX}")
    op.execute(f"CREATE INDEX {HOT_QUIET_INDEX} ON leads (temperature, last_activity_at{nulls_first}, id) "
               "WHERE deleted_at IS NULL")
    op.execute(f"DROP INDEX {OWNER_HOT_QUIET_INDEX}")
    op.create_index('ix_leads_owner_temperature', 'leads', ['owner_id', 'temperature', 'deleted_at', 'stage_id'],
                    unique=False)
    refresh_statistics(op.get_bind(), ["leads"])
