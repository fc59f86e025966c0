"""Speed to lead: how long leads created in the period waited for their first response.

A lead's response time is ``first_response_at - created_at``; ``first_response_at`` is
stamped once, by the first call, e-mail or meeting a person logs on the lead
(``leadflow.activities.services.touch_lead``). Leads with no such activity yet are
"unanswered" and count in the shares' denominator (a share is of all leads created in the
period), but not in the median and 90th percentile, which are over answered leads.

Every figure comes from one aggregate query: response times are ranked per group with
``ROW_NUMBER()`` and ``COUNT() OVER`` (answered first, fastest first), and the median and
90th percentile are the rows at the nearest rank, ⌈n/2⌉ and ⌈0.9 n⌉ (the lower median
for an even count), so SQLite, which has no percentile function, gives what PostgreSQL
gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, Numeric, String, and_, case, cast, func, literal_column, null, select, union_all

from markupsafe import Markup

from leadflow.accounts.models import User
from leadflow.activities.queries import duration_text
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.reports.charts import bar_chart, line_chart
from leadflow.reports.filters import ReportFilters, in_scope, report_lead_ids
from leadflow.reports.registry import Report
from leadflow.reports.spans import seconds_between
from leadflow.web.sparkline import sparkline

FIVE_MINUTES = 5 * 60
ONE_HOUR = 60 * 60
NO_OWNER = "No owner"
NO_SOURCE = "No source"
MAX_WEEKS = 110  # a trend over a longer period starts at its last 110 weeks


@dataclass(frozen=True)
class ResponseRow:
    """One group's figures; times in seconds (None when no lead of the group was answered)."""

    key: str | int | None  # owner id, source, week start (a date), None for everyone
    label: str
    leads: int
    answered: int
    within_5_min: int
    within_1_hour: int
    median_seconds: float | None
    p90_seconds: float | None

    @property
    def unanswered(self) -> int:
        return self.leads - self.answered

    def share(self, count: int) -> float | None:
        """``count`` as a share (0..1) of the leads created, None when there were none."""
        return count / self.leads if self.leads else None

    @property
    def share_5_min(self) -> float | None:
        return self.share(self.within_5_min)

    @property
    def share_1_hour(self) -> float | None:
        return self.share(self.within_1_hour)

    @property
    def median_text(self) -> str:
        return _span_text(self.median_seconds)

    @property
    def p90_text(self) -> str:
        return _span_text(self.p90_seconds)


def _span_text(seconds: float | None) -> str:
    return "—" if seconds is None else duration_text(timedelta(seconds=seconds))


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _percent(share: float | None) -> float | None:
    return None if share is None else round(share * 100, 1)


@dataclass(frozen=True)
class SpeedToLead:
    overall: ResponseRow
    by_owner: list[ResponseRow]
    by_source: list[ResponseRow]
    weekly: list[ResponseRow]  # one row per week of the period, oldest first, empty weeks included

    def charts(self) -> dict[str, Markup]:
        return charts(self)


GROUP_ALL, GROUP_OWNER, GROUP_SOURCE, GROUP_WEEK = 0, 1, 2, 3


def week_starts(start_at: datetime, end_at: datetime, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants at which each week of the period starts: local midnight of the
    period's first day, then every 7 local days (so a week keeps 7 days over a clock change)."""
    first: date = start_at.astimezone(zone).date()
    starts = []
    day = first
    while True:
        at = datetime.combine(day, time(0), tzinfo=zone).astimezone(start_at.tzinfo)
        if at >= end_at:
            break
        starts.append(at)
        day += timedelta(days=7)
    return starts[-MAX_WEEKS:]


def _week_number(starts: list[datetime]):
    """The week of the period a lead was created in (0, 1, …; -1 before the first week shown),
    as nested CASEs that halve the weeks at each level: about 7 comparisons per lead for two
    years of weeks, instead of one per week."""
    def within(low: int, high: int):  # weeks low..high-1
        if high - low == 1:
            return literal_column(str(low))
        middle = (low + high) // 2
        return case((Lead.created_at < starts[middle], within(low, middle)), else_=within(middle, high))

    return case((Lead.created_at < starts[0], literal_column("-1")), else_=within(0, len(starts)))


def _summary_query(lead_ids, start_at: datetime, end_at: datetime, starts: list[datetime]):
    """One row per group: (grp, key_id, key_text, leads, answered, within_5_min, within_1_hour,
    median_seconds, p90_seconds) for everyone, per owner, per source and per week.

    The leads created in the period are read once (a CTE). The counts are made per (owner,
    source, week) first, and each grouping adds those few rows up; only the answered leads are
    ranked (a branch of a UNION ALL per grouping), fastest first, and the median and p90
    picked at their nearest rank. Counts and ranks meet in one GROUP BY of the groups."""
    responses = in_scope(select(
        Lead.owner_id, func.nullif(func.coalesce(Lead.source, ""), "").label("source"),
        _week_number(starts).label("week"),
        seconds_between(Lead.first_response_at, Lead.created_at).label("seconds"),
    ), lead_ids).where(Lead.created_at >= start_at, Lead.created_at < end_at).cte("responses")
    no_id, no_text, nothing = cast(null(), Integer), cast(null(), String), literal_column("0")
    r = responses.c
    fine = select(
        r.owner_id, r.source, r.week, func.count().label("leads"), func.count(r.seconds).label("answered"),
        func.sum(case((r.seconds <= FIVE_MINUTES, 1), else_=0)).label("within_5_min"),
        func.sum(case((r.seconds <= ONE_HOUR, 1), else_=0)).label("within_1_hour"),
    ).group_by(r.owner_id, r.source, r.week).cte("fine")
    f = fine.c
    counted = (f.leads, f.answered, f.within_5_min, f.within_1_hour)

    def counts(grp: int, key_id, key_text):
        return select(literal_column(str(grp)).label("grp"), key_id.label("key_id"), key_text.label("key_text"),
                      *[func.sum(column).label(column.name) for column in counted],
                      cast(null(), Numeric).label("median_seconds"), cast(null(), Numeric).label("p90_seconds"))

    answered = r.seconds.is_not(None)
    ranks = union_all(
        select(literal_column(str(GROUP_ALL)).label("grp"), no_id.label("key_id"), no_text.label("key_text"),
               r.seconds).where(answered),
        select(literal_column(str(GROUP_OWNER)), r.owner_id, no_text, r.seconds).where(answered),
        select(literal_column(str(GROUP_SOURCE)), no_id, r.source, r.seconds).where(answered),
        select(literal_column(str(GROUP_WEEK)), r.week, no_text, r.seconds).where(answered, r.week >= 0),
    ).subquery("answered")
    g = ranks.c
    groups = (g.grp, g.key_id, g.key_text)
    ranked = select(
        *groups, g.seconds,
        func.row_number().over(partition_by=groups, order_by=g.seconds).label("rn"),
        func.count().over(partition_by=groups, order_by=g.seconds, rows=(None, None)).label("n"),  # one sort for both
    ).subquery("ranked")
    n, seconds = ranked.c.n, ranked.c.seconds

    def at_rank(rank):
        return func.max(case((ranked.c.rn == rank, seconds)))

    parts = union_all(
        counts(GROUP_ALL, no_id, no_text).having(func.count() > 0),
        counts(GROUP_OWNER, f.owner_id, no_text).group_by(f.owner_id),
        counts(GROUP_SOURCE, no_id, f.source).group_by(f.source),
        counts(GROUP_WEEK, f.week, no_text).where(f.week >= 0).group_by(f.week),
        select(ranked.c.grp, ranked.c.key_id, ranked.c.key_text, nothing, nothing, nothing, nothing,
               at_rank((n + 1) // 2), at_rank((9 * n + 9) // 10))
        .group_by(ranked.c.grp, ranked.c.key_id, ranked.c.key_text),
    ).subquery("parts")
    c = parts.c
    summary = select(
        c.grp, c.key_id, c.key_text, *[func.sum(c[column.name]).label(column.name) for column in counted],
        func.max(c.median_seconds).label("median_seconds"), func.max(c.p90_seconds).label("p90_seconds"),
    ).group_by(c.grp, c.key_id, c.key_text).subquery("summary")
    owner_name = case((summary.c.grp == GROUP_OWNER, User.name))
    return select(summary, owner_name.label("owner_name")).outerjoin(
        User, and_(summary.c.grp == GROUP_OWNER, User.id == summary.c.key_id))


def _row(key, label, r) -> ResponseRow:
    as_float = (lambda v: None if v is None else float(v))
    return ResponseRow(key, label, int(r.leads), int(r.answered), int(r.within_5_min), int(r.within_1_hour),
                       as_float(r.median_seconds), as_float(r.p90_seconds))


def _most_leads_first(rows: list[ResponseRow]) -> list[ResponseRow]:
    """Most leads first, then by name; the group with no owner (or no source) last."""
    return sorted(rows, key=lambda row: (row.key is None, -row.leads, str(row.label), str(row.key)))


def speed_to_lead(lead_ids, start_at: datetime, end_at: datetime, zone: ZoneInfo) -> SpeedToLead:
    """Every figure of the report in one query (see ``_summary_query``); weeks start on the
    period's first day, in the viewer's ``zone``, and weeks without leads show zero leads."""
    starts = week_starts(start_at, end_at, zone)
    found: dict[int, list] = {GROUP_ALL: [], GROUP_OWNER: [], GROUP_SOURCE: [], GROUP_WEEK: []}
    if starts:
        for r in db.session.execute(_summary_query(lead_ids, start_at, end_at, starts)):
            found[int(r.grp)].append(r)
    overall = _row(None, "All leads", found[GROUP_ALL][0]) if found[GROUP_ALL] \
        else ResponseRow(None, "All leads", 0, 0, 0, 0, None, None)
    owners = _most_leads_first([_row(r.key_id, r.owner_name if r.key_id is not None else NO_OWNER, r)
                                for r in found[GROUP_OWNER]])
    sources = _most_leads_first([_row(r.key_text, r.key_text if r.key_text is not None else NO_SOURCE, r)
                                 for r in found[GROUP_SOURCE]])
    by_week = {int(r.key_id): r for r in found[GROUP_WEEK]}
    weeks = []
    for i, at in enumerate(starts):
        local_day = at.astimezone(zone).date()
        weeks.append(_row(local_day, local_day.isoformat(), by_week[i]) if i in by_week
                     else ResponseRow(local_day, local_day.isoformat(), 0, 0, 0, 0, None, None))
    return SpeedToLead(overall, owners, sources, weeks)


def weekly(lead_ids, start_at: datetime, end_at: datetime, zone: ZoneInfo) -> list[ResponseRow]:
    return speed_to_lead(lead_ids, start_at, end_at, zone).weekly


# --- the page -------------------------------------------------------------------------------

def compute(filters: ReportFilters, viewer) -> SpeedToLead:
    return speed_to_lead(report_lead_ids(filters, viewer), filters.start_at, filters.end_at, filters.zone)


def week_label(day: date) -> str:
    return f"{day:%b} {day.day}"


def _in_unit(minutes: list[float | None]) -> tuple[list[float | None], str]:
    """Minutes as they are, or in hours when the largest is over three hours."""
    if max((m for m in minutes if m is not None), default=0) > 180:
        return [None if m is None else round(m / 60, 1) for m in minutes], "h"
    return minutes, "min"


def charts(data: SpeedToLead) -> dict[str, Markup]:
    """The weekly median as a line and the median per owner as bars (minutes, or hours when
    they run long)."""
    weekly_values, weekly_unit = _in_unit([_minutes(r.median_seconds) for r in data.weekly])
    weekly_chart = line_chart([week_label(r.key) for r in data.weekly],
                              [("Median time to first response", [v or 0 for v in weekly_values])],
                              title="Median time to first response, by week", unit=weekly_unit)
    answered = [r for r in data.by_owner if r.median_seconds is not None]
    owner_values, owner_unit = _in_unit([_minutes(r.median_seconds) for r in answered])
    owner_chart = bar_chart([(r.label, v) for r, v in zip(answered, owner_values)],
                            title="Median time to first response, by owner", unit=owner_unit)
    return {"weekly": weekly_chart, "owners": owner_chart}


def thumbnail(data: SpeedToLead) -> Markup:
    return sparkline([_minutes(r.median_seconds) for r in data.weekly],
                     title=f"Median time to first response: {data.overall.median_text}")


CSV_HEADER = ["Group", "Name", "Leads", "Answered", "Unanswered", "Median minutes", "90th percentile minutes",
              "Answered within 5 minutes (%)", "Answered within 1 hour (%)"]


def csv_table(data: SpeedToLead) -> tuple[list[str], list[list]]:
    groups = ([("All leads", data.overall)] + [("Owner", r) for r in data.by_owner]
              + [("Source", r) for r in data.by_source] + [("Week of", r) for r in data.weekly])
    return CSV_HEADER, [[group, r.label, r.leads, r.answered, r.unanswered, _minutes(r.median_seconds),
                         _minutes(r.p90_seconds), _percent(r.share_5_min), _percent(r.share_1_hour)]
                        for group, r in groups]


REPORT = Report(
    "speed-to-lead", "Speed to lead",
    "Time from a lead's arrival to the first call, e-mail or meeting logged on it, for leads created in the "
    "period: median and 90th percentile of answered leads, and the share of all leads answered within "
    "5 minutes and within 1 hour.",
    compute, thumbnail)
