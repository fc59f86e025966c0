"""An import of many rows leaves the planner's statistics counting the leads it wrote."""

from __future__ import annotations

from leadflow import db as framework
from tests.test_statistics import forget_statistics, leads_in_table, planner_rows


def test_an_import_over_the_threshold_refreshes_the_statistics(run_import, monkeypatch):
    monkeypatch.setattr(framework, "STATISTICS_AFTER_ROWS", 3)
    forget_statistics()
    job = run_import("Name,Email\n" + "".join(f"Imported {i},imp{i}@example.com\n" for i in range(4)))
    assert job.status == "done"
    assert planner_rows() == leads_in_table() == 4
