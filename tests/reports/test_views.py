"""The reports index and the pages ``report_routes`` adds for a registered report."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Blueprint
from jinja2 import ChoiceLoader, DictLoader
from markupsafe import Markup

from leadflow.reports import registry
from leadflow.reports.charts import bar_chart
from leadflow.reports.filters import report_lead_ids
from leadflow.reports.registry import Report
from leadflow.reports.views import report_routes
from leadflow.extensions import db


def test_index_lists_the_scoring_report_for_managers_only(client, login_as):
    login_as("manager")
    page = client.get("/reports").get_data(as_text=True)
    assert "Scoring calibration" in page and 'href="/reports/scoring"' in page
    assert 'aria-current="page">Reports</a>' in page


def test_index_is_open_to_every_signed_in_role_and_sends_the_rest_to_sign_in(client, login_as):
    assert client.get("/reports").status_code == 302
    login_as("viewer")
    page = client.get("/reports")
    assert page.status_code == 200
    assert "Scoring calibration" not in page.get_data(as_text=True)


def _count_leads(filters, viewer) -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(report_lead_ids(filters, viewer).subquery()))


PROBE = Report("probe", "Probe", "Counts the leads in scope.", _count_leads,
               lambda n: bar_chart([("Leads", n)], title="Probe leads"))
PROBE_PAGE = """{% extends "reports/_report.html" %}
{% block chart %}{{ bar_chart_of(data) }}{% endblock %}
{% block table %}<table><caption>Leads</caption><tr><th scope="row">Leads</th><td id="n">{{ data }}</td></tr></table>{% endblock %}"""


@pytest.fixture
def probe_app(app):
    """The app with one more report, ``probe``, on a blueprint of its own (``own_app``)."""
    blueprint = Blueprint("probe_reports", __name__, url_prefix="/reports")
    registry.register(PROBE)
    report_routes("probe", "reports/probe.html", lambda n: (["Leads", "Owner"], [[n, "=cmd"]]), blueprint=blueprint)
    app.register_blueprint(blueprint)
    app.jinja_env.loader = ChoiceLoader([DictLoader({"reports/probe.html": PROBE_PAGE}), app.jinja_env.loader])
    app.jinja_env.globals["bar_chart_of"] = lambda n: bar_chart([("Leads", n)], title="Leads")
    yield app
    registry.REPORTS.remove(PROBE)


@pytest.mark.own_app  # it adds a blueprint and a template
def test_report_page_csv_and_index_of_a_registered_report(probe_app, client, login_as, make_lead):
    user, _ = login_as("rep")
    make_lead(owner_id=user.id)
    make_lead()
    db.session.commit()

    page = client.get("/reports/probe?owner=me&start=2026-01-01&start=ignored")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<td id="n">1</td>' in html
    assert 'href="/reports/probe.csv?start=2026-01-01&amp;owner=me"' in html
    assert '<option value="me" selected>Mine</option>' in html
    assert 'role="img"' in html

    everyone = client.get("/reports/probe").get_data(as_text=True)
    assert '<td id="n">2</td>' in everyone

    bad = client.get("/reports/probe?start=31/12/2026&pipeline=x")
    assert bad.status_code == 200
    assert "Ignored the date “31/12/2026”: use YYYY-MM-DD." in bad.get_data(as_text=True)

    download = client.get("/reports/probe.csv?owner=me")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True).removeprefix("\ufeff"))))
    assert rows == [["Leads", "Owner"], ["1", "'=cmd"]]

    index = client.get("/reports").get_data(as_text=True)
    assert 'href="/reports/probe"' in index and 'hx-get="/reports/probe/thumbnail"' in index
    assert "Probe leads" not in index, "thumbnails are drawn after the page, one request per card"
    card = client.get("/reports/probe/thumbnail", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Probe leads" in card and 'id="thumbnail-probe"' in card and "<html" not in card
    # Without JavaScript the card's link shows the index with every thumbnail drawn.
    whole = client.get("/reports/probe/thumbnail").get_data(as_text=True)
    assert "<html" in whole and "Probe leads" in whole and "Leads reaching each step" in whole
    assert client.get("/reports/nothing-here/thumbnail", headers={"HX-Request": "true"}).status_code == 404

