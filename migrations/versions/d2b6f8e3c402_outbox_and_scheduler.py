"""outbox and scheduler

Revision ID: d2b6f8e3c402
Revises: a49c21e8881d
Create Date: 2026-11-23 12:00:00

"""
from alembic import op
import sqlalchemy as sa

import leadflow.db


# revision identifiers, used by Alembic.
revision = 'd2b6f8e3c402'
down_revision = 'a49c21e8881d'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
