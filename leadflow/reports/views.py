"""``/reports``: the index of every registered report, and each report's page and CSV.

A report module gives a ``Report`` (``registry``) and, here, one line registers it and its two
routes with ``report_routes(slug, template, csv)``:

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

from collections.abc import Callable

from flask import Blueprint, abort, request, url_for
from flask_login import current_user, login_required

from leadflow.db import parse_page, utcnow
from leadflow.leads.bulk import bulk_context
from leadflow.reports import (
    activity, charts, data_quality, forecast, funnel, sources, speed_to_lead, time_in_stage, velocity,
)
from leadflow.reports.csvout import csv_response
from leadflow.reports.filters import ReportFilters, filter_choices, report_lead_ids
from leadflow.reports.registry import REPORTS, find, register
from leadflow.web.htmx import is_fragment_request, render_page
from leadflow.web.sparkline import sparkline

bp = Blueprint("reports", __name__, url_prefix="/reports")
PAGE_ENDPOINTS: dict[str, str] = {}  # slug → the endpoint of its page, as report_routes added it

for _chart in (charts.bar_chart, charts.column_chart, charts.line_chart, charts.funnel_chart, sparkline):
    bp.add_app_template_global(_chart)  # report templates draw with these: {{ bar_chart(rows, title=…) }}


def endpoint_for(slug: str) -> str:
    """The endpoint of a report's page (its CSV's is this plus ``_csv``)."""
    return slug.replace("-", "_")


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
    filters = ReportFilters.from_args({}, current_user)
    return [(report, url_for(PAGE_ENDPOINTS[report.slug]),
             report.thumbnail(report.compute(filters, current_user)) if with_thumbnails else None)
            for report in REPORTS if report.slug in PAGE_ENDPOINTS]


def report_routes(slug: str, template: str, csv: Callable, *, blueprint: Blueprint = bp) -> None:
    """Add the page and the CSV of the registered report ``slug`` to ``blueprint`` (this one)."""
    report = find(slug)
    if report is None:
        raise LookupError(f"Register the report {slug!r} before adding its routes.")
    endpoint = endpoint_for(slug)

    def page():
        filters = ReportFilters.from_args(request.args, current_user)
        data = report.compute(filters, current_user)
        return render_page(template, report=report, filters=filters, data=data, endpoint=f"{blueprint.name}.{endpoint}",
                           **filter_choices())

    def download():
        filters = ReportFilters.from_args(request.args, current_user)
        header, rows = csv(report.compute(filters, current_user))
        return csv_response(f"{slug}-{filters.start.isoformat()}-to-{filters.end.isoformat()}.csv", header, rows)

    page.__name__, download.__name__ = endpoint, f"{endpoint}_csv"
    PAGE_ENDPOINTS[slug] = f"{blueprint.name}.{endpoint}"
    blueprint.add_url_rule(f"/{slug}", endpoint, login_required(page), methods=["GET"])
    blueprint.add_url_rule(f"/{slug}.csv", f"{endpoint}_csv", login_required(download), methods=["GET"])


# --- the reports, in the order the index shows them -------------------------------------------

for _report in (funnel, sources, time_in_stage, forecast, speed_to_lead, activity, velocity, data_quality):
    # Each module's REPORT, its page "reports/<module>.html" and its CSV table.
    register(_report.REPORT)
    report_routes(_report.REPORT.slug, f"reports/{_report.__name__.rsplit('.', 1)[1]}.html", _report.csv_table)


@bp.get("/data-quality/review")
@login_required
def data_quality_review():
    """A review queue of the data quality report (untouched leads, or leads missing a field),
    with the lead list's bulk actions over the leads ticked on it."""
    filters = ReportFilters.from_args(request.args, current_user)
    queue = data_quality.queue_leads(report_lead_ids(filters, current_user), request.args.get("queue", ""),
                                     utcnow(), parse_page(request.args.get("page", 1)))
    return render_page("reports/data_quality_review.html", report=data_quality.REPORT, filters=filters, queue=queue,
                       queues=data_quality.QUEUES, endpoint="reports.data_quality", **filter_choices(),
                       **bulk_context(current_user))
