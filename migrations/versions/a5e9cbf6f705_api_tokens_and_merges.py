"""api tokens and merges

Revision ID: a5e9cbf6f705
Revises: f4d8bae5e604
Create Date: 2026-11-23 12:00:00

"""
from alembic import op
import sqlalchemy as sa

import leadflow.db


# revision identifiers, used by Alembic.
revision = 'a5e9cbf6f705'
down_revision = 'f4d8bae5e604'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
