"""import number and date formats: a decimal separator per file, a date format per column

Imports read amounts with one decimal separator per file (detected from the money columns,
confirmable) and dates with one format per column. Jobs already uploaded keep reading as
before: a decimal point, ISO dates.

Revision ID: e8f3b2d5c1a7
Revises: d7e2a1c4b8f9
Create Date: 2026-12-03 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e8f3b2d5c1a7'
down_revision = 'd7e2a1c4b8f9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decimal_separator', sa.String(length=1), nullable=True))
        batch_op.add_column(sa.Column('detected_decimal_separator', sa.String(length=1), nullable=True))
        batch_op.add_column(sa.Column('date_formats', sa.JSON(), nullable=True))
    op.execute("UPDATE import_jobs SET decimal_separator = '.', detected_decimal_separator = '.'")


def downgrade():
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_column('date_formats')
        batch_op.drop_column('detected_decimal_separator')
        batch_op.drop_column('decimal_separator')
