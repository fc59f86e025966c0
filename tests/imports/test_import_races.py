"""An organization another request adds while an import writes a chunk is used, not doubled."""

from __future__ import annotations

from sqlalchemy import select

from leadflow.extensions import db
from leadflow.imports import runner
from leadflow.leads.models import Lead
from leadflow.organizations.models import Organization
from leadflow.organizations.names import find_or_create_organization

from tests.imports.test_import import HEADER


def test_an_organization_added_after_the_import_looked_is_used_not_doubled(run_import, monkeypatch):
    real, looks = runner.ChunkWriter._live_organizations, []

    def look(self, keys):
        looks.append(list(keys))
        if len(looks) == 1:  # the import finds nothing; a request adds the organization right after
            find_or_create_organization("ANALYTICAL  engines")
            return
        real(self, keys)

    monkeypatch.setattr(runner.ChunkWriter, "_live_organizations", look)
    job = run_import(HEADER + "Ada,Lovelace,ada@example.com,,Analytical Engines,,,\n")
    assert (job.status, job.created_count) == ("done", 1)
    [org] = db.session.scalars(select(Organization)).all()
    assert org.name == "ANALYTICAL engines", "the request's organization, not a second one"
    assert db.session.scalar(select(Lead.organization_id)) == org.id
    assert looks == [["analytical engines"]] * 2
