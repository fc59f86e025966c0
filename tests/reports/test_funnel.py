"""The funnel, against a small hand-checked set of leads created in November 2026.

Stages of the default pipeline: New, Contacted, Qualified, Proposal sent, Negotiation, Won
(steps 0-5) and Lost (no step).

    lead  stage history (→ current)           lifecycle history        furthest stage / lifecycle
    A     New, Contacted, Qualified           lead, mql                Qualified / MQL
    B     New, Proposal sent, Won (skips)     lead, customer (skips)   Won / Customer
    C     New, Negotiation, Contacted (back)  lead, sql, mql (back)    Negotiation / SQL
    D     New, Contacted, Lost                lead, disqualified       Contacted, lost / Lead, disqualified
    E     New, Lost, Contacted (reopened)     subscriber               Contacted / none
    H     no pipeline                         lead                     none / Lead
    I     Lost                                subscriber, disqualified none, lost / none, disqualified
    F     created in October                  -                        not counted
    G     in the trash                        -                        not counted
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta, timezone

import pytest

from leadflow.extensions import db
from leadflow.leads.models import Lead, LifecycleChange
from leadflow.pipeline.models import Pipeline, Stage, StageChange
from leadflow.pipeline.services import ensure_default_pipeline
from leadflow.reports.filters import ReportFilters
from leadflow.reports.funnel import Step, compute, lifecycle_funnel, stage_funnel

NOV = datetime(2026, 11, 1, tzinfo=timezone.utc)
DEC = datetime(2026, 12, 1, tzinfo=timezone.utc)
LIVE = db.select(Lead.id).where(Lead.deleted_at.is_(None))


def _lead(make_lead, stages: list[str], lifecycles: list[str], *, created=NOV + timedelta(days=3), owner_id=None,
          deleted=False) -> int:
    """A lead whose past is exactly ``stages`` and ``lifecycles`` (the last of each is where it is now)."""
    by_name = {s.name: s for s in db.session.scalars(db.select(Stage))}
    lead = make_lead(owner_id=owner_id)
    lead_id = lead.id
    db.session.execute(db.delete(StageChange).where(StageChange.lead_id == lead_id))
    db.session.execute(db.delete(LifecycleChange).where(LifecycleChange.lead_id == lead_id))
    previous = None
    for i, name in enumerate(stages):
        db.session.add(StageChange(lead_id=lead_id, from_stage_id=previous, to_stage_id=by_name[name].id,
                                   at=created + timedelta(hours=i)))
        previous = by_name[name].id
    before = None
    for i, lifecycle in enumerate(lifecycles):
        db.session.add(LifecycleChange(lead_id=lead_id, from_lifecycle=before, to_lifecycle=lifecycle,
                                       at=created + timedelta(hours=i)))
        before = lifecycle
    current = by_name[stages[-1]] if stages else None
    db.session.execute(Lead.__table__.update().where(Lead.id == lead_id).values(
        created_at=created, stage_id=current.id if current else None, pipeline_id=current.pipeline_id if current else None,
        lifecycle=lifecycles[-1], deleted_at=created if deleted else None))
    db.session.flush()
    db.session.expire_all()
    return lead_id


@pytest.fixture
def leads(app, make_lead):
    ensure_default_pipeline()
    made = {
        "A": _lead(make_lead, ["New", "Contacted", "Qualified"], ["lead", "mql"]),
        "B": _lead(make_lead, ["New", "Proposal sent", "Won"], ["lead", "customer"]),
        "C": _lead(make_lead, ["New", "Negotiation", "Contacted"], ["lead", "sql", "mql"]),
        "D": _lead(make_lead, ["New", "Contacted", "Lost"], ["lead", "disqualified"]),
        "E": _lead(make_lead, ["New", "Lost", "Contacted"], ["subscriber"]),
        "H": _lead(make_lead, [], ["lead"]),
        "I": _lead(make_lead, ["Lost"], ["subscriber", "disqualified"], created=DEC - timedelta(seconds=1)),
        "F": _lead(make_lead, ["New", "Won"], ["lead", "customer"], created=NOV - timedelta(seconds=1)),
        "G": _lead(make_lead, ["New", "Won"], ["lead", "customer"], deleted=True),
    }
    return made


def _pipeline() -> Pipeline:
    return db.session.scalar(db.select(Pipeline).where(Pipeline.is_default.is_(True)))


def test_stage_funnel_counts_skipped_stages_as_reached_and_the_furthest_stage_of_a_lead_that_went_back(leads):
    funnel = stage_funnel(LIVE, NOV, DEC, _pipeline())
    assert (funnel.cohort, funnel.outside, funnel.stopped_before) == (7, 2, 1)
    assert funnel.steps == [
        Step("New", 5, None, 100.0, 0, 0),
        Step("Contacted", 5, 100.0, 100.0, 2, 1),
        Step("Qualified", 3, 60.0, 60.0, 1, 0),
        Step("Proposal sent", 2, 66.7, 40.0, 0, 0),
        Step("Negotiation", 2, 100.0, 40.0, 1, 0),
        Step("Won", 1, 50.0, 20.0, 0, 0),
    ]


def test_lifecycle_funnel_reads_the_highest_step_ever_and_reports_disqualified_as_drop_off(leads):
    funnel = lifecycle_funnel(LIVE, NOV, DEC)
    assert (funnel.cohort, funnel.outside, funnel.stopped_before) == (7, 2, 1)
    assert funnel.steps == [
        Step("Lead", 5, None, 100.0, 2, 1),
        Step("MQL", 3, 60.0, 60.0, 1, 0),
        Step("SQL", 2, 66.7, 40.0, 1, 0),
        Step("Opportunity", 1, 50.0, 20.0, 0, 0),
        Step("Customer", 1, 100.0, 20.0, 0, 0),
    ]


def test_an_empty_period_has_zero_everywhere_and_no_percentages(leads):
    stages = stage_funnel(LIVE, DEC, DEC + timedelta(days=31), _pipeline())
    assert stages.cohort == 0 and [s.reached for s in stages.steps] == [0] * 6
    assert {s.from_previous for s in stages.steps} == {None} and {s.from_first for s in stages.steps} == {None}
    assert lifecycle_funnel(LIVE, DEC, DEC + timedelta(days=31)).steps[0] == Step("Lead", 0, None, None, 0, 0)


def test_another_pipeline_counts_only_leads_that_were_in_its_stages(leads):
    other = Pipeline(name="Partners", position=1)
    other.stages.append(Stage(name="Talking", position=0, probability=10, kind="open"))
    db.session.add(other)
    db.session.flush()
    funnel = stage_funnel(LIVE, NOV, DEC, other)
    assert (funnel.cohort, funnel.outside, [s.reached for s in funnel.steps]) == (7, 7, [0])


def _page_rows(html: str, table_id: str) -> list[list[str]]:
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S)]


def test_page_shows_both_funnels_with_the_filters_in_the_csv_link(leads, client, login_as):
    login_as("manager")
    html = client.get("/reports/funnel?start=2026-11-01&end=2026-11-30").get_data(as_text=True)
    assert _page_rows(html, "stage-funnel")[5] == ["Won", "1", "50.0%", "20.0%", "—", "0"]
    assert _page_rows(html, "lifecycle-funnel")[0] == ["Lead", "5", "—", "100.0%", "2", "1"]
    assert 'href="/reports/funnel.csv?start=2026-11-01&amp;end=2026-11-30"' in html
    assert html.count('role="img"') == 2
    assert "1 more went straight to a lost stage." in html


def test_csv_has_every_step_of_both_funnels(leads, client, login_as):
    login_as("manager")
    response = client.get("/reports/funnel.csv?start=2026-11-01&end=2026-11-30")
    assert response.headers["Content-Disposition"] == 'attachment; filename="funnel-2026-11-01-to-2026-11-30.csv"'
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).removeprefix("\ufeff"))))
    assert rows[0][:3] == ["Funnel", "Step", "Leads reaching it"]
    assert rows[1] == ["Stages of Sales", "New", "5", "", "100.0", "0", "0"]
    assert rows[7] == ["Lifecycle", "Lead", "5", "", "100.0", "2", "1"]
    assert len(rows) == 1 + 6 + 5


def test_a_rep_with_mine_sees_only_their_own_leads(app, client, login_as, make_lead):
    ensure_default_pipeline()
    rep, _ = login_as("rep")
    _lead(make_lead, ["New", "Won"], ["lead", "customer"], owner_id=rep.id)
    _lead(make_lead, ["New"], ["lead"])
    db.session.commit()
    mine = client.get("/reports/funnel?start=2026-11-01&end=2026-11-30&owner=me").get_data(as_text=True)
    everyone = client.get("/reports/funnel?start=2026-11-01&end=2026-11-30").get_data(as_text=True)
    assert _page_rows(mine, "stage-funnel")[0][1] == "1"
    assert _page_rows(everyone, "stage-funnel")[0][1] == "2"
    assert '<option value="me" selected>Mine</option>' in mine


def test_an_empty_period_says_what_to_do(app, client, login_as):
    login_as("viewer")
    html = client.get("/reports/funnel?start=2020-01-01&end=2020-01-31&pipeline=banana").get_data(as_text=True)
    assert "No leads were created in this period with these filters." in html
    assert "Ignored the pipeline “banana”" in html


def test_index_shows_the_funnel_thumbnail(app, client, login_as):
    login_as("rep")
    html = client.get("/reports").get_data(as_text=True)
    assert 'href="/reports/funnel"' in html and 'hx-get="/reports/funnel/thumbnail"' in html
    thumbnail = client.get("/reports/funnel/thumbnail", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Leads reaching each step, last 90 days" in thumbnail and "<html" not in thumbnail


def test_without_filters_the_default_pipeline_and_the_last_90_days_are_counted(leads, make_user):
    viewer = make_user()
    report = compute(ReportFilters.from_args({}, viewer, today=date(2026, 11, 30)), viewer)
    assert report.pipeline.name == "Sales"
    assert report.stages.steps[0].reached == 6, "F, created on 31 October, is within the last 90 days"
