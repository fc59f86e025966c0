"""capture forms

Revision ID: e3c7a9f4d503
Revises: d2b6f8e3c402
Create Date: 2026-11-23 12:00:00

"""
from alembic import op
import sqlalchemy as sa

import leadflow.db


# revision identifiers, used by Alembic.
revision = 'e3c7a9f4d503'
down_revision = 'd2b6f8e3c402'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
