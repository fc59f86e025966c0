"""Sources: for each lead source, the leads created in the period, how many of them are won
now (in a won stage, or customers), their won value in the base currency, the median days
from created to first entering a won stage (stage history), and, where an admin entered what
the source cost in the months of the period, the cost per lead and per customer.

Counts, sums and the median are aggregates in the database (GROUP BY source and currency;
the median picked with ROW_NUMBER() and COUNT() OVER); amounts in several currencies become
one total through ``governance.money.total_in_base`` (a currency without a rate is shown
beside the total, never added to it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import case, func, or_

from leadflow.extensions import db
from leadflow.governance.money import MoneyTotal, Rates, current_rates, total_in_base
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Stage, StageChange
from leadflow.reports.aggregates import days_between, median_by
from leadflow.reports.charts import bar_chart
from leadflow.reports.filters import ReportFilters, in_scope, report_lead_ids
from leadflow.reports.models import SourceCost
from leadflow.reports.registry import Report

NO_SOURCE = "(no source)"


@dataclass(frozen=True)
class SourceRow:
    source: str  # NO_SOURCE for leads without one
    leads: int
    won: int
    won_value: MoneyTotal
    median_days: float | None  # created → first won stage, of the won leads with that history
    cost: MoneyTotal | None  # None: no cost entered for the months of the period

    @property
    def conversion(self) -> float | None:
        return round(100 * self.won / self.leads, 1) if self.leads else None

    def _per(self, count: int) -> int | None:
        if self.cost is None or self.cost.unconverted or not count:
            return None
        return int((self.cost.cents / count).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    @property
    def cost_per_lead(self) -> int | None:
        """Cents in the base currency; None without a cost, leads, or a rate for the cost."""
        return self._per(self.leads)

    @property
    def cost_per_customer(self) -> int | None:
        return self._per(self.won)


@dataclass(frozen=True)
class SourcesReport:
    rows: list[SourceRow]
    base: str
    months: list[date]  # the months whose costs are summed
    costs_shown: bool  # False when an owner or team filter is set: costs are the whole source's

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def lead_bars(self) -> list[tuple[str, int]]:
        return [(row.source, row.leads) for row in self.rows]

    @property
    def value_bars(self) -> list[tuple[str, float]]:
        """Won value per source in whole units of the base currency."""
        return [(row.source, row.won_value.rounded_cents / 100) for row in self.rows]

    @property
    def unconverted(self) -> list[str]:
        return sorted({part.currency for row in self.rows for total in (row.won_value, row.cost) if total
                       for part in total.unconverted})


def months_of(start: date, end: date) -> list[date]:
    """The first day of every month from ``start``'s to ``end``'s."""
    months, month = [], start.replace(day=1)
    while month <= end:
        months.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return months


def _label(source) -> str:
    return source or NO_SOURCE


def source_volumes(lead_ids, start_at, end_at) -> dict[str, dict[str, tuple[int, int, int, int]]]:
    """source → currency → (leads, won, won with a value, won value in that currency's cents)."""
    won = or_(Stage.kind == "won", Lead.lifecycle == "customer")  # the stage joined once, not a subquery per test
    query = (in_scope(db.select(Lead.source, Lead.currency, func.count(),
                                func.sum(case((won, 1), else_=0)),
                                func.sum(case((won & Lead.value_cents.is_not(None), 1), else_=0)),
                                func.sum(case((won, Lead.value_cents), else_=None)))
                      .select_from(Lead).outerjoin(Stage, Stage.id == Lead.stage_id), lead_ids)
             .where(Lead.created_at >= start_at, Lead.created_at < end_at)
             .group_by(Lead.source, Lead.currency))
    found: dict[str, dict] = defaultdict(dict)
    for source, currency, leads, won_count, valued, cents in db.session.execute(query):
        found[_label(source)][currency] = (int(leads), int(won_count or 0), int(valued or 0), int(cents or 0))
    return found


def median_days_to_won(lead_ids, start_at, end_at) -> dict[str, float]:
    """source → median days from created to first entering a won stage, over the leads created
    in the period that are won now and have that move in their history."""
    won_stages = db.select(Stage.id).where(Stage.kind == "won")
    first_won = (db.select(StageChange.lead_id, func.min(StageChange.at).label("won_at"))
                 .where(StageChange.to_stage_id.in_(won_stages),
                        StageChange.lead_id.in_(in_scope(db.select(Lead.id), lead_ids).where(
                            Lead.created_at >= start_at, Lead.created_at < end_at,
                            or_(Lead.stage_id.in_(won_stages), Lead.lifecycle == "customer"))))
                 .group_by(StageChange.lead_id).subquery("first_won"))
    values = (db.select(Lead.source.label("source"), days_between(first_won.c.won_at, Lead.created_at).label("days"))
              .join(first_won, first_won.c.lead_id == Lead.id).subquery("durations"))
    return {_label(source): round(float(days), 1) for source, days in
            db.session.execute(median_by(values, values.c.source, values.c.days))}


def source_costs_in(months: list[date], source: str = "") -> dict[str, dict[str, tuple[int, int]]]:
    """source → currency → (entries, cents) summed over ``months``."""
    query = (db.select(SourceCost.source, SourceCost.currency, func.count(), func.sum(SourceCost.amount_cents))
             .where(SourceCost.month.in_(months)).group_by(SourceCost.source, SourceCost.currency))
    if source:
        query = query.where(SourceCost.source == source)
    found: dict[str, dict] = defaultdict(dict)
    for name, currency, entries, cents in db.session.execute(query):
        found[name][currency] = (int(entries), int(cents or 0))
    return found


def sources_report(lead_ids, start_at, end_at, months: list[date], rates: Rates, *, source: str = "",
                   with_costs: bool = True) -> SourcesReport:
    volumes = source_volumes(lead_ids, start_at, end_at)
    medians = median_days_to_won(lead_ids, start_at, end_at)
    costs = source_costs_in(months, source) if with_costs else {}
    rows = []
    for name in set(volumes) | set(costs):
        by_currency = volumes.get(name, {})
        value = total_in_base({c: (valued, cents) for c, (_, _, valued, cents) in by_currency.items()}, rates)
        cost = total_in_base(costs[name], rates) if name in costs else None
        rows.append(SourceRow(name, sum(v[0] for v in by_currency.values()), sum(v[1] for v in by_currency.values()),
                              value, medians.get(name), cost))
    rows.sort(key=lambda row: (-row.leads, -row.won, row.source == NO_SOURCE, row.source))
    return SourcesReport(rows, rates.base, months, with_costs)


def compute(filters: ReportFilters, viewer) -> SourcesReport:
    return sources_report(report_lead_ids(filters, viewer), filters.start_at, filters.end_at,
                          months_of(filters.start, filters.end), current_rates(), source=filters.source,
                          with_costs=not (filters.owner or filters.team_id))


def thumbnail(data: SourcesReport):
    return bar_chart(data.lead_bars[:5], title="Leads by source, last 90 days")


def _money(cents) -> str:
    return "" if cents is None else f"{Decimal(int(cents)) / 100:.2f}"


def csv_table(data: SourcesReport) -> tuple[list[str], list[list]]:
    header = ["Source", "Leads", "Won", "Conversion to won %", f"Won value ({data.base})",
              "Won value without a rate", "Median days to won"]
    if data.costs_shown:
        header += [f"Cost ({data.base})", f"Cost per lead ({data.base})", f"Cost per customer ({data.base})"]
    rows = []
    for row in data.rows:
        unconverted = "; ".join(f"{_money(part.rounded_cents)} {part.currency}" for part in row.won_value.unconverted)
        line = [row.source, row.leads, row.won, "" if row.conversion is None else row.conversion,
                _money(row.won_value.rounded_cents), unconverted, "" if row.median_days is None else row.median_days]
        if data.costs_shown:
            line += [_money(row.cost.rounded_cents) if row.cost else "", _money(row.cost_per_lead),
                     _money(row.cost_per_customer)]
        rows.append(line)
    return header, rows


REPORT = Report(
    "sources", "Sources",
    "Per source: leads created in the period, the share of them won now, their won value, the median days from "
    "created to won (stage history), and cost per lead and per customer from the monthly costs an admin entered.",
    compute, thumbnail)
