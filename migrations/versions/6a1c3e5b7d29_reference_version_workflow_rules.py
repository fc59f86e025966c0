"""reference versions: the workflow rules, which every lead event asks whether any listens

A move, a change or an arrival runs the workflow rules whose trigger matches it. Which rules
are active, and on what, is kept per process like the other reference data
(``leadflow/web/refcache.py``): an event no rule listens to reads no rule at all. Triggers
bump the ``workflow_rules`` version on any write to the table.

Revision ID: 6a1c3e5b7d29
Revises: 3e8b5d2a9c41
Create Date: 2026-12-04 04:10:00

"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = '6a1c3e5b7d29'
down_revision = '3e8b5d2a9c41'
branch_labels = None
depends_on = None

KIND = TABLE = "workflow_rules"


def upgrade():
    versions = sa.table("reference_versions", sa.column("kind", sa.String), sa.column("version", sa.BigInteger))
    op.bulk_insert(versions, [{"kind": KIND, "version": secrets.randbelow(2**53)}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE TRIGGER reference_version_{TABLE} AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE "
                   f"ON {TABLE} FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_version('{KIND}')")
        return
    for event in ("insert", "delete", "update"):
        op.execute(f"CREATE TRIGGER reference_version_{TABLE}_{event} AFTER {event.upper()} ON {TABLE} "
                   f"BEGIN UPDATE reference_versions SET version = version + 1 WHERE kind = '{KIND}'; END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER reference_version_{TABLE} ON {TABLE}")
    else:
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER reference_version_{TABLE}_{event}")
    op.execute(f"DELETE FROM reference_versions WHERE kind = '{KIND}'")
