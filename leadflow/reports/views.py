"""``/reports``: the index of every registered report, and each report's page and CSV.

A report module gives a ``Report`` (``registry``) and, here, its name in ``REPORT_MODULES``
adds its two routes with ``report_routes(slug, template, csv)`` and registers it when a
request first needs a report (``load_reports``):

- ``GET /reports/<slug>`` (endpoint ``reports.<slug with _ for ->``) renders ``template``
  (which extends ``reports/_report.html``) with ``report``, ``filters`` (``ReportFilters``),
  ``data`` (``report.compute(filters, viewer)``), ``endpoint`` (the page's, for links) and the
  filter form's choices (``pipelines``, ``owners``, ``teams``, ``sources``: names a report's
  template should not use for its own things); the charts of ``charts`` are template globals
  (``{{ bar_chart(rows, title=…) }}``), and a template may set ``pipeline_default_label`` (the
  funnel's "Default pipeline") before its blocks;
- ``GET /reports/<slug>.csv`` (endpoint ``reports.<…>_csv``) answers ``csv(data)``, a
  ``(header, rows)`` pair, as a CSV file with the same filters.

Every signed-in user may read reports: they count only the leads the viewer sees on the lead
list (``filters.report_lead_ids``); a rep switches between everyone's and "mine" (owner=me).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from types import ModuleType

from flask import Blueprint, abort, request, url_for
from flask_login import current_user, login_required

from leadflow.db import parse_page, utcnow
from leadflow.leads.bulk import bulk_context
from leadflow.reports import charts
from leadflow.reports.csvout import csv_response
from leadflow.reports.filters import ReportFilters, filter_choices, report_lead_ids
from leadflow.reports.registry import REPORTS, Report, find, register
from leadflow.web.htmx import is_fragment_request, render_page
from leadflow.web.sparkline import sparkline

bp = Blueprint("reports", __name__, url_prefix="/reports")
PAGE_ENDPOINTS: dict[str, str] = {}  # slug → the endpoint of its page, as report_routes added it
# The reports of this package in the order the index shows them: each module of
# ``leadflow.reports`` gives its REPORT (its slug: the module's name with - for _), its page
# "reports/<module>.html" and its CSV table (``csv_table``). The modules are imported by the
# first request that needs a report (``load_reports``), not by every process at its start:
# about 1 MB of a worker that never shows one (``bench/bench_memory.py``).
REPORT_MODULES = ("funnel", "sources", "time_in_stage", "forecast", "speed_to_lead", "activity", "velocity",
                  "data_quality")
_loading = threading.Lock()
_loaded = threading.Event()

for _chart in (charts.bar_chart, charts.column_chart, charts.line_chart, charts.funnel_chart, sparkline):
    bp.add_app_template_global(_chart)  # report templates draw with these: {{ bar_chart(rows, title=…) }}


def endpoint_for(slug: str) -> str:
    """The endpoint of a report's page (its CSV's is this plus ``_csv``)."""
    return slug.replace("-", "_")


def report_module(name: str) -> ModuleType:
    """``leadflow.reports.<name>``, one of ``REPORT_MODULES``, with every report registered."""
    load_reports()
    return importlib.import_module(f"leadflow.reports.{name}")


def load_reports() -> None:
    """Import the modules of ``REPORT_MODULES`` and register their reports in that order (the
    index's), once; a thread that comes meanwhile waits for them."""
    if _loaded.is_set():
        return
    with _loading:
        for name in REPORT_MODULES:
            register(importlib.import_module(f"leadflow.reports.{name}").REPORT)
        _loaded.set()


def _registered(slug: str) -> Report:
    load_reports()
    report = find(slug)
    if report is None:
        raise LookupError(f"Register the report {slug!r} before its page is asked for.")
    return report


@bp.get("")
@login_required
def index():
    """The cards; each thumbnail is asked for by its card once the page is shown (one report
    computed per request, not all of them before the page answers)."""
    return render_page("reports/index.html", cards=_cards(with_thumbnails=False))


@bp.get("/<slug>/thumbnail")
@login_required
def thumbnail(slug: str):
    """A card's thumbnail over the default period; without htmx the index with every thumbnail."""
    load_reports()
    report = find(slug)
    if report is None or slug not in PAGE_ENDPOINTS:
        abort(404)
    if not is_fragment_request():
        return render_page("reports/index.html", cards=_cards(with_thumbnails=True))
    filters = ReportFilters.from_args({}, current_user)
    return render_page("reports/_thumbnail.html", report=report,
                       thumbnail=report.thumbnail(report.compute(filters, current_user)))


def _cards(*, with_thumbnails: bool) -> list[tuple]:
    """(report, its page's URL, its thumbnail or None) of every report with a page."""
    load_reports()
    filters = ReportFilters.from_args({}, current_user)
    return [(report, url_for(PAGE_ENDPOINTS[report.slug]),
             report.thumbnail(report.compute(filters, current_user)) if with_thumbnails else None)
            for report in REPORTS if report.slug in PAGE_ENDPOINTS]


def report_routes(slug: str, template: str, csv: Callable, *, blueprint: Blueprint = bp) -> None:
    """Add the page and the CSV of the report ``slug`` to ``blueprint`` (this one); the report
    is looked up when they are asked for (registered by then, ``load_reports`` for this package's)."""
    endpoint = endpoint_for(slug)

    def page():
        report = _registered(slug)
        filters = ReportFilters.from_args(request.args, current_user)
        data = report.compute(filters, current_user)
        return render_page(template, report=report, filters=filters, data=data, endpoint=f"{blueprint.name}.{endpoint}",
                           **filter_choices())

    def download():
        report = _registered(slug)
        filters = ReportFilters.from_args(request.args, current_user)
        header, rows = csv(report.compute(filters, current_user))
        return csv_response(f"{slug}-{filters.start.isoformat()}-to-{filters.end.isoformat()}.csv", header, rows)

    page.__name__, download.__name__ = endpoint, f"{endpoint}_csv"
    PAGE_ENDPOINTS[slug] = f"{blueprint.name}.{endpoint}"
    blueprint.add_url_rule(f"/{slug}", endpoint, login_required(page), methods=["GET"])
    blueprint.add_url_rule(f"/{slug}.csv", f"{endpoint}_csv", login_required(download), methods=["GET"])


# --- the reports, in the order the index shows them -------------------------------------------

def _csv_table_of(name: str) -> Callable:
    return lambda data: report_module(name).csv_table(data)


for _name in REPORT_MODULES:
    report_routes(_name.replace("_", "-"), f"reports/{_name}.html", _csv_table_of(_name))


@bp.get("/data-quality/review")
@login_required
def data_quality_review():
    """A review queue of the data quality report (untouched leads, or leads missing a field),
    with the lead list's bulk actions over the leads ticked on it."""
    data_quality = report_module("data_quality")
    filters = ReportFilters.from_args(request.args, current_user)
    queue = data_quality.queue_leads(report_lead_ids(filters, current_user), request.args.get("queue", ""),
                                     utcnow(), parse_page(request.args.get("page", 1)))
    return render_page("reports/data_quality_review.html", report=data_quality.REPORT, filters=filters, queue=queue,
                       queues=data_quality.QUEUES, endpoint="reports.data_quality", **filter_choices(),
                       **bulk_context(current_user))
