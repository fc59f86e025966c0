"""imports can run the new-lead rules: routing, scoring and workflow rules for the new leads

Revision ID: f2a7c9e4b316
Revises: b8c4f2e6a913
Create Date: 2026-12-03 14:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = "f2a7c9e4b316"
down_revision = "b8c4f2e6a913"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("import_jobs") as batch:
        batch.add_column(sa.Column("new_lead_rules", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("import_jobs") as batch:
        batch.drop_column("new_lead_rules")
