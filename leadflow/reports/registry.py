"""The reports there are: each one registered once, by ``leadflow.reports.views.load_reports``
when a request first needs a report. The index page and the benchmark read ``REPORTS``, in
registration order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from markupsafe import Markup


@dataclass(frozen=True)
class Report:
    slug: str  # its address: /reports/<slug> and /reports/<slug>.csv
    title: str
    summary: str  # one line: how it is computed
    compute: Callable  # compute(filters: ReportFilters, viewer) -> the report's data (one object)
    thumbnail: Callable[[object], Markup]  # thumbnail(data) -> a small chart for the index


REPORTS: list[Report] = []


def register(report: Report) -> Report:
    """Add ``report`` (a slug is registered once; registering the same report again is a no-op)."""
    known = find(report.slug)
    if known is not None:
        if known != report:
            raise ValueError(f"A report is already registered at /reports/{report.slug}.")
        return known
    REPORTS.append(report)
    return report


def find(slug: str) -> Report | None:
    return next((report for report in REPORTS if report.slug == slug), None)
