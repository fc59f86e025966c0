"""reference versions: the capture forms' fields, whose custom-field labels the lead page shows

The lead page names a lead's custom fields by the labels the capture forms give them. They are
kept per process like the other reference data (``leadflow/web/refcache.py``); triggers bump
the ``capture_forms`` version when a form is added or removed or its fields change. A
submission's counters (``rotation_counter``, ``submission_count``) bump nothing: only
``UPDATE OF fields`` counts.

Revision ID: 2f8b4d6a9c13
Revises: 7c2d9e4f1b35
Create Date: 2026-12-04 03:30:00

"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = '2f8b4d6a9c13'
down_revision = '7c2d9e4f1b35'
branch_labels = None
depends_on = None

KIND = "capture_forms"


def upgrade():
    versions = sa.table("reference_versions", sa.column("kind", sa.String), sa.column("version", sa.BigInteger))
    op.bulk_insert(versions, [{"kind": KIND, "version": secrets.randbelow(2**53)}])
    if op.get_bind().dialect.name == "postgresql":
        # bump_reference_version() was made with the reference_versions table.
        op.execute("CREATE TRIGGER reference_version_capture_forms AFTER INSERT OR DELETE OR TRUNCATE OR "
                   "UPDATE OF fields ON capture_forms FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION bump_reference_version('{KIND}')")
        return
    for event, suffix in (("INSERT", "insert"), ("DELETE", "delete"), ("UPDATE OF fields", "update")):
        op.execute(f"CREATE TRIGGER reference_version_capture_forms_{suffix} AFTER {event} ON capture_forms "
                   f"BEGIN UPDATE reference_versions SET version = version + 1 WHERE kind = '{KIND}'; END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER reference_version_capture_forms ON capture_forms")
    else:
        for suffix in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER reference_version_capture_forms_{suffix}")
    op.execute(f"DELETE FROM reference_versions WHERE kind = '{KIND}'")
