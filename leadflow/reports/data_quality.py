"""Lost reasons and data quality: why leads were lost, and which leads need tidying.

- Lost and disqualified by reason. *Lost*: leads in a lost stage now that entered it in the
  period (``Lead.stage_entered_at``; a lead reopened since is not lost any more), by
  ``won_lost_reason``. *Disqualified*: leads disqualified now that became so in the period
  (``lifecycle_changes``; a lead qualified again since is not counted), by
  ``disqualified_reason``. A blank reason reads "No reason given".
- Missing fields: live leads in scope with no email, phone, owner or source — a state of
  the data now, whatever the period.
- Untouched: open leads (not in a won or lost stage, not disqualified) whose last activity
  (or creation, when there was none) is more than ``UNTOUCHED_DAYS`` days before now.
- Possible duplicates: the pairs the duplicates queue shows
  (``leadflow.leads.duplicate_pairs.candidate_pairs``) with a lead in scope in them.

Each of "missing email/phone/source" and "untouched" is also a review queue: ``queue_leads``
pages through its leads (oldest touch first) for the report's bulk actions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, literal_column, or_, select

from markupsafe import Markup

from leadflow.accounts.models import User
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads.duplicate_pairs import candidate_pairs
from leadflow.leads.models import Lead, LifecycleChange
from leadflow.pipeline.models import Stage
from leadflow.reports.charts import bar_chart
from leadflow.reports.filters import ReportFilters, in_scope, report_lead_ids
from leadflow.reports.registry import Report

UNTOUCHED_DAYS = 90
NO_REASON = "No reason given"
QUEUE_PER_PAGE = 50
DUPLICATES_LABEL = "Possible duplicate pairs involving these leads"
# The review queues: name -> what its page calls it.
QUEUES = {
    "untouched": f"Untouched for {UNTOUCHED_DAYS}+ days",
    "no_email": "No email",
    "no_phone": "No phone",
    "no_source": "No source",
    "no_owner": "No owner",
}


@dataclass(frozen=True)
class ReasonRow:
    kind: str  # "Lost" or "Disqualified"
    reason: str
    leads: int


@dataclass(frozen=True)
class MissingCounts:
    leads: int  # live leads in scope
    no_email: int
    no_phone: int
    no_owner: int
    no_source: int


@dataclass(frozen=True)
class QueueRow:
    id: int
    name: str
    owner: str | None
    source: str | None
    last_touched_at: datetime


@dataclass(frozen=True)
class QueuePage:
    queue: str
    rows: list[QueueRow]
    total: int
    page: int
    pages: int


def _blank(column):
    return or_(column.is_(None), func.trim(column) == "")


def _reason(column):
    return case((_blank(column), NO_REASON), else_=func.trim(column))


def lost_reasons(lead_ids, start_at: datetime, end_at: datetime) -> list[ReasonRow]:
    """Lost and disqualified leads by reason (see the module), most frequent first."""
    lost = select(literal_column("'Lost'").label("kind"), _reason(Lead.won_lost_reason).label("reason"),
                  Lead.id.label("lead_id")) \
        .join(Stage, Stage.id == Lead.stage_id) \
        .where(Stage.kind == "lost",
               Lead.stage_entered_at >= start_at, Lead.stage_entered_at < end_at)
    disqualified = select(literal_column("'Disqualified'").label("kind"),
                          _reason(Lead.disqualified_reason).label("reason"), Lead.id.label("lead_id")) \
        .where(Lead.lifecycle == "disqualified",
               select(LifecycleChange.id).where(
                   LifecycleChange.lead_id == Lead.id, LifecycleChange.to_lifecycle == "disqualified",
                   LifecycleChange.at >= start_at, LifecycleChange.at < end_at).exists())
    both = in_scope(lost, lead_ids).union_all(in_scope(disqualified, lead_ids)).subquery("reasons")
    rows = db.session.execute(
        select(both.c.kind, both.c.reason, func.count().label("leads")).group_by(both.c.kind, both.c.reason)
        .order_by(both.c.kind.desc(), func.count().desc(), both.c.reason))
    return [ReasonRow(r.kind, r.reason, int(r.leads)) for r in rows]


def _missing_conditions():
    return {
        "no_email": _blank(Lead.email),
        "no_phone": _blank(Lead.phone),
        "no_owner": Lead.owner_id.is_(None),
        "no_source": _blank(Lead.source),
    }


def missing_counts(lead_ids) -> MissingCounts:
    """Live leads in scope with no email, phone, owner or source (one scan)."""
    counts = [func.coalesce(func.sum(case((condition, 1), else_=0)), 0).label(name)
              for name, condition in _missing_conditions().items()]
    r = db.session.execute(in_scope(select(func.count().label("leads"), *counts).select_from(Lead), lead_ids)).one()
    return MissingCounts(int(r.leads), int(r.no_email), int(r.no_phone), int(r.no_owner), int(r.no_source))


def last_touched():
    return func.coalesce(Lead.last_activity_at, Lead.created_at)


def untouched_condition(now: datetime):
    """Open leads with no activity (or creation) in the last ``UNTOUCHED_DAYS`` days."""
    open_stage = or_(Lead.stage_id.is_(None),
                     Lead.stage_id.in_(select(Stage.id).where(Stage.kind.not_in(("won", "lost")))))
    return and_(open_stage, Lead.lifecycle != "disqualified",
                last_touched() < now - timedelta(days=UNTOUCHED_DAYS))


def queue_condition(queue: str, now: datetime):
    if queue == "untouched":
        return untouched_condition(now)
    return _missing_conditions()[queue]


def untouched_count(lead_ids, now: datetime) -> int:
    return db.session.scalar(in_scope(select(func.count()).select_from(Lead), lead_ids).where(untouched_condition(now)))


def duplicate_pair_count(lead_ids) -> tuple[int, bool]:
    """Pairs in the duplicates queue with at least one of ``lead_ids`` in them, and whether the
    queue's search was complete (it is bounded)."""
    found, complete = candidate_pairs()
    members = sorted({lead_id for pair in found for lead_id in pair})
    in_view: set[int] = set()
    for start in range(0, len(members), 500):
        in_view.update(db.session.scalars(
            select(Lead.id).where(Lead.id.in_(members[start:start + 500]), Lead.id.in_(lead_ids))))
    return sum(1 for first, second in found if first in in_view or second in in_view), complete


def queue_leads(lead_ids, queue: str, now: datetime, page: int = 1) -> QueuePage:
    """One page of a review queue (``QUEUES``): leads touched longest ago first."""
    if queue not in QUEUES:
        queue = "untouched"
    where = (Lead.id.in_(lead_ids), queue_condition(queue, now))
    total = db.session.scalar(select(func.count()).where(*where))
    pages = max(1, math.ceil(total / QUEUE_PER_PAGE))
    page = min(max(1, page), pages)
    rows = db.session.execute(
        select(Lead.id, Lead.first_name, Lead.last_name, User.name.label("owner"), Lead.source,
               last_touched().label("touched"))
        .outerjoin(User, User.id == Lead.owner_id).where(*where)
        .order_by(last_touched(), Lead.id).offset((page - 1) * QUEUE_PER_PAGE).limit(QUEUE_PER_PAGE))
    return QueuePage(queue, [QueueRow(r.id, " ".join(p for p in (r.first_name, r.last_name) if p) or "(no name)",
                                      r.owner, r.source, r.touched) for r in rows], total, page, pages)


# --- the page -------------------------------------------------------------------------------

@dataclass(frozen=True)
class DataQuality:
    reasons: list[ReasonRow]
    missing: MissingCounts
    untouched: int
    duplicate_pairs: int
    duplicates_complete: bool
    duplicates_label = DUPLICATES_LABEL  # the row's name on the page and in the CSV

    def reasons_chart(self) -> Markup:
        return reasons_chart(self)

    def problems(self) -> list[tuple[str, str, int]]:
        return problems(self)


def compute(filters: ReportFilters, viewer, now: datetime | None = None) -> DataQuality:
    lead_ids = report_lead_ids(filters, viewer)
    pairs, complete = duplicate_pair_count(lead_ids)
    return DataQuality(lost_reasons(lead_ids, filters.start_at, filters.end_at), missing_counts(lead_ids),
                       untouched_count(lead_ids, now or utcnow()), pairs, complete)


def reasons_chart(data: DataQuality) -> Markup:
    return bar_chart([(f"{row.kind}: {row.reason}", row.leads) for row in data.reasons],
                     title="Lost and disqualified leads, by reason")


def problems(data: DataQuality) -> list[tuple[str, str, int]]:
    """(queue, label, leads) of each thing to tidy, in the order the page lists them."""
    missing = data.missing
    return [("no_email", "Leads with no email", missing.no_email), ("no_phone", "Leads with no phone", missing.no_phone),
            ("no_owner", "Leads with no owner", missing.no_owner),
            ("no_source", "Leads with no source", missing.no_source),
            ("untouched", f"Open leads untouched for {UNTOUCHED_DAYS}+ days", data.untouched)]


def thumbnail(data: DataQuality) -> Markup:
    return bar_chart([(label, count) for _, label, count in problems(data)], title="Leads needing attention")


def csv_table(data: DataQuality) -> tuple[list[str], list[list]]:
    rows = [[row.kind, row.reason, row.leads] for row in data.reasons]
    rows += [["Data quality", label, count] for _, label, count in problems(data)]
    rows.append(["Data quality", DUPLICATES_LABEL, data.duplicate_pairs])
    return ["Section", "Reason or problem", "Leads"], rows


REPORT = Report(
    "data-quality", "Lost reasons & data quality",
    "Leads lost (entered a lost stage in the period and still there) or disqualified in the period (and still "
    "so), by reason; and, for all leads in scope now, those missing an email, phone, owner or source, open leads "
    f"untouched for {UNTOUCHED_DAYS}+ days, and possible duplicates.",
    compute, thumbnail)
