"""reference versions: the workflow and scoring rules, which every lead event asks whether any listens

A move, a change or an arrival runs the workflow rules whose trigger matches it, and a change
rescores a lead when a scoring rule reads a changed field. Which rules are active, and on
what, is kept per process like the other reference data (``leadflow/web/refcache.py``): an
event no rule listens to reads no rule at all. Triggers bump the ``workflow_rules`` and
``scoring_rules`` versions on any write to their tables.

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

KINDS = ("workflow_rules", "scoring_rules")  # each kind is its own table
EVENTS = ("insert", "delete", "update")


def upgrade():
    versions = sa.table("reference_versions", sa.column("kind", sa.String), sa.column("version", sa.BigInteger))
    op.bulk_insert(versions, [{"kind": kind, "version": secrets.randbelow(2**53)} for kind in KINDS])
    postgresql = op.get_bind().dialect.name == "postgresql"
    for kind in KINDS:
        if postgresql:
            op.execute(f"CREATE TRIGGER reference_version_{kind} AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE "
                       f"ON {kind} FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_version('{kind}')")
            continue
        for event in EVENTS:
            op.execute(f"CREATE TRIGGER reference_version_{kind}_{event} AFTER {event.upper()} ON {kind} "
                       f"BEGIN UPDATE reference_versions SET version = version + 1 WHERE kind = '{kind}'; END")


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for kind in KINDS:
        if postgresql:
            op.execute(f"DROP TRIGGER reference_version_{kind} ON {kind}")
        else:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER reference_version_{kind}_{event}")
        op.execute(f"DELETE FROM reference_versions WHERE kind = '{kind}'")
