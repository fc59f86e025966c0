"""Report filters: parsed from the query string (bad values ignored with a message), and the
lead scope: exactly what the lead list shows the viewer, narrowed by owner, team, source and
pipeline."""

from __future__ import annotations

from datetime import date, datetime, timezone

from werkzeug.datastructures import MultiDict

from leadflow.accounts.models import Team, User
from leadflow.extensions import db
from leadflow.leads import services as lead_services
from leadflow.leads.models import Lead
from leadflow.leads.queries import LeadFilters, filtered_leads
from leadflow.pipeline.models import Pipeline, Stage
from leadflow.reports.filters import ReportFilters, in_scope, report_lead_ids

TODAY = date(2026, 12, 3)


def parse(viewer, **args) -> ReportFilters:
    return ReportFilters.from_args(MultiDict(args), viewer, today=TODAY)


def test_default_range_is_the_last_90_days_through_today_and_is_not_in_the_url(make_user):
    filters = parse(make_user())
    assert (filters.start, filters.end, filters.days) == (date(2026, 9, 5), TODAY, 90)
    assert filters.args() == {} and filters.problems == []


def test_dates_owner_and_source_are_read_and_given_back_for_links(make_user):
    filters = parse(make_user(), start="2026-01-01", end="2026-03-31", owner="me", source="referral")
    assert (filters.start, filters.end, filters.owner, filters.source) == (date(2026, 1, 1), date(2026, 3, 31), "me", "referral")
    assert filters.args() == {"start": "2026-01-01", "end": "2026-03-31", "owner": "me", "source": "referral"}
    assert filters.problems == []


def test_bad_values_are_ignored_with_a_message_each(make_user):
    filters = parse(make_user(), start="yesterday", end="2026-13-40", pipeline="abc", team="999999",
                    owner="<script>", source="x" * 41)
    assert (filters.start, filters.end) == (date(2026, 9, 5), TODAY)
    assert (filters.pipeline_id, filters.team_id, filters.owner, filters.source) == (None, None, "", "")
    assert len(filters.problems) == 6
    assert "Ignored the date “yesterday”: use YYYY-MM-DD." in filters.problems
    assert filters.args() == {}


def test_an_id_too_large_for_any_row_and_a_far_date_are_refused_not_sent_to_the_database(make_user):
    filters = parse(make_user(), owner="99999999999999999999", pipeline="99999999999999999999", end="9999-12-31")
    assert (filters.owner, filters.pipeline_id, filters.end) == ("", None, TODAY)
    assert len(filters.problems) == 3


def test_a_start_after_the_end_is_swapped_and_said(make_user):
    filters = parse(make_user(), start="2026-05-01", end="2026-04-01")
    assert (filters.start, filters.end) == (date(2026, 4, 1), date(2026, 5, 1))
    assert filters.problems == ["The start 2026-05-01 is after the end 2026-04-01: they were swapped."]


def test_days_are_the_viewers_days(make_user):
    viewer = make_user(timezone="Europe/Berlin")
    filters = parse(viewer, start="2026-12-01", end="2026-12-01")
    assert filters.start_at == datetime(2026, 11, 30, 23, 0, tzinfo=timezone.utc)
    assert filters.end_at == datetime(2026, 12, 1, 23, 0, tzinfo=timezone.utc)


def test_existing_pipeline_and_team_are_kept(app, make_user, make_lead):
    make_lead()
    pipeline = db.session.scalar(db.select(Pipeline))
    team = Team(name="North")
    db.session.add(team)
    db.session.flush()
    filters = parse(make_user(), pipeline=str(pipeline.id), team=str(team.id))
    assert (filters.pipeline_id, filters.team_id, filters.problems) == (pipeline.id, team.id, [])
    assert filters.args() == {"pipeline": pipeline.id, "team": team.id}


def _ids(filters: ReportFilters, viewer) -> set[int]:
    return set(db.session.scalars(report_lead_ids(filters, viewer)))


def test_scope_is_what_the_lead_list_shows_narrowed_by_owner_team_source_and_pipeline(app, make_user, make_lead):
    team = Team(name="North")
    db.session.add(team)
    db.session.flush()
    rep = make_user("rep", team_id=team.id)
    teammate = make_user("rep", team_id=team.id)
    other = make_user("rep")
    mine = make_lead(owner_id=rep.id, source="referral")
    theirs = make_lead(owner_id=teammate.id, source="website")
    others = make_lead(owner_id=other.id, source="referral")
    unassigned = make_lead(source="event")
    trashed = make_lead(owner_id=rep.id, source="referral")
    lead_services.delete_lead(rep, trashed)
    second = Pipeline(name="Partners", position=1)
    second.stages.append(Stage(name="Talking", position=0, probability=10, kind="open"))
    db.session.add(second)
    db.session.flush()
    partner_lead = make_lead(owner_id=rep.id, stage_id=second.stages[0].id)
    db.session.flush()

    everyone = parse(rep)
    listed = set(db.session.scalars(filtered_leads(LeadFilters(), rep).with_only_columns(Lead.id)))
    assert _ids(everyone, rep) == listed == {mine.id, theirs.id, others.id, unassigned.id, partner_lead.id}
    assert _ids(parse(rep, owner="me"), rep) == {mine.id, partner_lead.id}
    assert _ids(parse(rep, owner="none"), rep) == {unassigned.id}
    assert _ids(parse(rep, owner=str(other.id)), rep) == {others.id}
    assert _ids(parse(rep, team=str(team.id)), rep) == {mine.id, theirs.id, partner_lead.id}
    assert _ids(parse(rep, source="referral"), rep) == {mine.id, others.id}
    assert _ids(parse(rep, pipeline=str(second.id)), rep) == {partner_lead.id}
    assert _ids(parse(rep, owner="me", source="referral"), rep) == {mine.id}


def test_in_scope_applies_a_plain_selection_directly_and_any_other_as_in(app, make_lead):
    plain = in_scope(db.select(Lead.source), db.select(Lead.id).where(Lead.deleted_at.is_(None)))
    assert "IN" not in str(plain) and "deleted_at IS NULL" in str(plain)
    joined = in_scope(db.select(Lead.source), db.select(Lead.id).join(User, User.id == Lead.owner_id))
    assert "leads.id IN (SELECT" in str(joined)
    kept, _other = make_lead(), make_lead()
    assert set(db.session.scalars(in_scope(db.select(Lead.id), db.select(Lead.id).where(Lead.id == kept.id)))) == {kept.id}
