"""import warnings and problem kinds

An import row with a bad optional cell now becomes a lead with a warning instead of failing:

- ``import_jobs.warned_count``: rows imported (created or updated) with at least one warning.
- ``import_rows.kinds``: the stable codes of a noted row's problems, space-separated
  (``phone:invalid contact:missing``), so the job page groups rows by kind of problem
  instead of by message text. Rows noted before this revision have none (grouped by message).

Revision ID: b8c4f2e6a913
Revises: c1f4e7a9b2d6
Create Date: 2026-12-03 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b8c4f2e6a913'
down_revision = 'c1f4e7a9b2d6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warned_count', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('import_rows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kinds', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('import_rows', schema=None) as batch_op:
        batch_op.drop_column('kinds')
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_column('warned_count')
