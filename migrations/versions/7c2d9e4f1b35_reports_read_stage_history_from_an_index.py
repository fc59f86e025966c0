"""reports read stage history from an index

The stage history index by (lead_id, at, id) gains the two stages of each move, so time in
stage, pipeline velocity and the board's past days read a lead's moves in order from the
index alone (no row fetched per move): it replaces the narrower one, which every query that
used it can read the same way.

Revision ID: 7c2d9e4f1b35
Revises: 9d3f6a2c8e14
Create Date: 2026-12-04 00:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '7c2d9e4f1b35'
down_revision = '9d3f6a2c8e14'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_stage_changes_lead_moves", "stage_changes",
                    ["lead_id", "at", "id", "from_stage_id", "to_stage_id"])
    op.drop_index("ix_stage_changes_lead_at", table_name="stage_changes")


def downgrade():
    op.create_index("ix_stage_changes_lead_at", "stage_changes", ["lead_id", "at", "id"])
    op.drop_index("ix_stage_changes_lead_moves", table_name="stage_changes")
