"""The filters every report shares (date range, pipeline, owner or team, source), read from
the query string, and the leads a report counts: those the viewer sees on the lead list.

A bad value is never an error: it is ignored and ``problems`` says so, and the page shows
that message above the report (the lead list does the same)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from leadflow.accounts.models import Team, User
from leadflow.accounts.zones import user_zone
from leadflow.db import parse_id
from leadflow.extensions import db
from leadflow.leads.models import SOURCES, Lead
from leadflow.leads.queries import LeadFilters, filtered_leads
from leadflow.pipeline.board import default_pipeline
from leadflow.pipeline.models import Pipeline

DEFAULT_DAYS = 90  # the default range: the last 90 days, today included
SOURCE_MAX = 40  # the width of ``Lead.source``
OWNER_WORDS = ("me", "none")


@dataclass
class ReportFilters:
    start: date
    end: date  # inclusive
    pipeline_id: int | None = None
    owner: str = ""  # "" everyone's, "me", a user id, "none" (unassigned)
    team_id: int | None = None
    source: str = ""
    problems: list[str] = field(default_factory=list)
    zone: ZoneInfo = field(default=ZoneInfo("UTC"), repr=False)
    default_start: date | None = field(default=None, repr=False)
    default_end: date | None = field(default=None, repr=False)

    @classmethod
    def from_args(cls, args, viewer, today: date | None = None) -> ReportFilters:
        """The filters in ``args`` (a query string's MultiDict or a dict). Dates are days in
        the viewer's time zone; ``today`` defaults to the viewer's today."""
        zone = user_zone(viewer)
        today = today or datetime.now(timezone.utc).astimezone(zone).date()
        default_start = today - timedelta(days=DEFAULT_DAYS - 1)
        problems: list[str] = []
        start = _date_arg(args, "start", problems) or default_start
        end = _date_arg(args, "end", problems) or today
        if start > end:
            problems.append(f"The start {start.isoformat()} is after the end {end.isoformat()}: they were swapped.")
            start, end = end, start
        filters = cls(start=start, end=end, problems=problems, zone=zone,
                      default_start=default_start, default_end=today)
        filters.pipeline_id = _record_arg(args, "pipeline", Pipeline, "pipeline", problems)
        filters.team_id = _record_arg(args, "team", Team, "team", problems)
        owner = _text(args, "owner")
        if owner and owner not in OWNER_WORDS and parse_id(owner) is None:
            problems.append(f"Ignored the owner “{owner[:20]}”: choose one from the list.")
            owner = ""
        filters.owner = str(parse_id(owner)) if owner and owner not in OWNER_WORDS else owner
        source = _text(args, "source")
        if len(source) > SOURCE_MAX:
            problems.append(f"Ignored the source “{source[:20]}…”: a source has at most {SOURCE_MAX} characters.")
            source = ""
        filters.source = source
        return filters

    @property
    def start_at(self) -> datetime:
        """The start of the first day, in UTC."""
        return datetime.combine(self.start, time(0), tzinfo=self.zone).astimezone(timezone.utc)

    @property
    def end_at(self) -> datetime:
        """The start of the day after the last one, in UTC (the range is [start_at, end_at))."""
        return datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=self.zone).astimezone(timezone.utc)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def args(self) -> dict:
        """The filters that differ from the defaults, as query-string arguments."""
        found = {}
        if self.start != self.default_start:
            found["start"] = self.start.isoformat()
        if self.end != self.default_end:
            found["end"] = self.end.isoformat()
        if self.pipeline_id is not None:
            found["pipeline"] = self.pipeline_id
        if self.owner:
            found["owner"] = self.owner
        if self.team_id is not None:
            found["team"] = self.team_id
        if self.source:
            found["source"] = self.source
        return found


def _text(args, key: str) -> str:
    return (args.get(key) or "").strip()


def _date_arg(args, key: str, problems: list[str]) -> date | None:
    raw = _text(args, key)
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        problems.append(f"Ignored the date “{raw[:20]}”: use YYYY-MM-DD.")
        return None
    if not date(1970, 1, 1) <= day <= date(9998, 12, 31):
        problems.append(f"Ignored the date “{raw[:20]}”: choose a day between 1970 and 9998.")
        return None
    return day


def _record_arg(args, key: str, model, noun: str, problems: list[str]) -> int | None:
    raw = _text(args, key)
    if not raw:
        return None
    record_id = parse_id(raw)
    if record_id is None or db.session.get(model, record_id) is None:
        problems.append(f"Ignored the {noun} “{raw[:20]}”: there is no such {noun}; choose one from the list.")
        return None
    return record_id


def report_lead_ids(filters: ReportFilters, viewer):
    """The SELECT of ``Lead.id`` of the live leads ``viewer`` sees on the lead list, narrowed by
    the owner, team, source and pipeline filters (not by date: each report has its own rule)."""
    query = filtered_leads(LeadFilters(owner=filters.owner, source=filters.source), viewer).with_only_columns(Lead.id)
    if filters.team_id is not None:
        query = query.where(Lead.owner_id.in_(db.select(User.id).where(User.team_id == filters.team_id)))
    if filters.pipeline_id is not None:
        query = query.where(Lead.pipeline_id == filters.pipeline_id)
    return query


def in_scope(query, lead_ids):
    """``query`` (a SELECT over ``leads``) narrowed to the leads of ``lead_ids``. When
    ``lead_ids`` is a plain SELECT of ``Lead.id`` from ``leads`` (``report_lead_ids``'s, or a
    test's), its conditions are applied to ``query`` itself: the same rows without reading the
    table twice (an ``IN`` over 100,000 ids costs a second pass and a temporary index)."""
    plain = (lead_ids.get_final_froms() == [Lead.__table__] and len(lead_ids.selected_columns) == 1
             and lead_ids.selected_columns[0].compare(Lead.__table__.c.id)
             and not (lead_ids._group_by_clauses or lead_ids._having_criteria or lead_ids._distinct
                      or lead_ids._limit_clause is not None or lead_ids._offset_clause is not None))
    if plain:
        return query if lead_ids.whereclause is None else query.where(lead_ids.whereclause)
    return query.where(Lead.id.in_(lead_ids))


def filter_choices() -> dict:
    """What the filter form offers: pipelines, active users, teams and sources."""
    pipelines = db.session.execute(db.select(Pipeline.id, Pipeline.name).where(Pipeline.archived_at.is_(None))
                                   .order_by(Pipeline.position, Pipeline.id)).all()
    owners = db.session.execute(db.select(User.id, User.name).where(User.active.is_(True)).order_by(User.name)).all()
    teams = db.session.execute(db.select(Team.id, Team.name).order_by(Team.name)).all()
    return {"pipelines": pipelines, "owners": owners, "teams": teams, "sources": SOURCES}


def report_pipeline(filters: ReportFilters) -> Pipeline | None:
    """The pipeline chosen in the filters, else the board's default one."""
    if filters.pipeline_id is not None:
        return db.session.get(Pipeline, filters.pipeline_id)
    return default_pipeline()
