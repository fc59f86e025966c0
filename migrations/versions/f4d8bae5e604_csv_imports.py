"""csv imports

Revision ID: f4d8bae5e604
Revises: e3c7a9f4d503
Create Date: 2026-11-23 12:00:00

"""
from alembic import op
import sqlalchemy as sa

import leadflow.db


# revision identifiers, used by Alembic.
revision = 'f4d8bae5e604'
down_revision = 'e3c7a9f4d503'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
