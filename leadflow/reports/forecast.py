"""Forecast: the value of open deals by expected close month, weighted by each stage's win
probability and unweighted, in the base currency; and the value won each month of the period
against the month's target when one is set.

- Open deals are the live leads in an open stage *now* (the period does not narrow them): one
  row per close month, oldest first, then the deals with no expected close date in a row of
  their own. A close date before the reader's today is overdue: months before this one are
  wholly overdue, and each row counts its overdue deals.
- A deal is won when it sits in a won stage; it counts in the month it entered that stage (a
  deal won, reopened and won again counts once, when it was last won). Months are the reader's
  (``leadflow.reports.months``).
- Sums are made per currency in the database and converted with ``total_in_base``: a currency
  with no rate to the base is shown beside a total, never added to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import case, func, select

from leadflow.extensions import db
from leadflow.governance.money import MoneyTotal, Rates, current_rates, total_in_base
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Stage
from leadflow.reports.charts import column_chart
from leadflow.reports.filters import ReportFilters, in_scope, report_lead_ids
from leadflow.reports.months import Month, month_key, month_of_day, period_months
from leadflow.reports.registry import Report
from leadflow.reports.stays import moment
from leadflow.reports.targets import targets_by_month
from leadflow.web.formatting import local_today

NO_CLOSE_DATE = "No close date"


@dataclass(frozen=True)
class CloseMonth:
    key: str | None  # "2026-11"; None for the deals with no expected close date
    label: str
    deals: int
    overdue: int  # deals whose expected close date has passed
    past: bool  # the whole month is before the reader's this month
    unweighted: MoneyTotal
    weighted: MoneyTotal


@dataclass(frozen=True)
class WonMonth:
    key: str
    label: str
    deals: int
    won: MoneyTotal
    target: MoneyTotal | None = None

    @property
    def percent_of_target(self) -> int | None:
        if self.target is None or not self.target.cents:
            return None
        return int((100 * self.won.cents / self.target.cents).quantize(Decimal(1)))


@dataclass(frozen=True)
class Forecast:
    base: str
    open_months: list[CloseMonth] = field(default_factory=list)
    won_months: list[WonMonth] = field(default_factory=list)
    open_total: MoneyTotal | None = None
    weighted_total: MoneyTotal | None = None
    won_total: MoneyTotal | None = None

    @property
    def has_targets(self) -> bool:
        return any(month.target is not None for month in self.won_months)

    @property
    def empty(self) -> bool:
        return not self.open_months and not any(month.deals for month in self.won_months)

    def open_chart(self, title: str = "Open value by expected close month"):
        return open_chart(self, title)

    def won_chart(self, title: str = "Won value each month"):
        return won_chart(self, title)


def _label(key: str | None) -> str:
    return NO_CLOSE_DATE if key is None else date.fromisoformat(f"{key}-01").strftime("%b %Y")


def _add(totals: dict, currency: str, leads: int, cents) -> None:
    held_leads, held_cents = totals.get(currency, (0, Decimal(0)))
    totals[currency] = (held_leads + leads, held_cents + Decimal(cents))


def open_by_close_month(lead_ids, today: date, rates: Rates) -> tuple[list[CloseMonth], MoneyTotal, MoneyTotal]:
    """Open deals by expected close month (no date last), with the totals of every row:
    (rows, unweighted total, weighted total)."""
    month = month_of_day(Lead.expected_close_date).label("month")
    overdue = func.sum(case((Lead.expected_close_date < today, 1), else_=0))
    query = (in_scope(select(month, Lead.currency, func.count(), func.count(Lead.value_cents),
                             func.coalesce(func.sum(Lead.value_cents), 0),
                             func.coalesce(func.sum(Lead.value_cents * Stage.probability), 0), overdue)
                      .join(Stage, Stage.id == Lead.stage_id), lead_ids)
             .where(Stage.kind == "open")
             .group_by(month, Lead.currency))
    months: dict[str | None, dict] = {}
    everything, everything_weighted = {}, {}
    for key, currency, deals, valued, cents, percent_cents, late in db.session.execute(query):
        row = months.setdefault(key, {"deals": 0, "overdue": 0, "unweighted": {}, "weighted": {}})
        row["deals"] += deals
        row["overdue"] += late or 0
        weighted = Decimal(percent_cents) / 100  # value × probability % is exact in hundredths of cents
        row["unweighted"][currency] = (valued, cents)
        row["weighted"][currency] = (valued, weighted)
        _add(everything, currency, valued, cents)
        _add(everything_weighted, currency, valued, weighted)
    this_month = today.strftime("%Y-%m")
    rows = [CloseMonth(key, _label(key), row["deals"], row["overdue"], key is not None and key < this_month,
                       total_in_base(row["unweighted"], rates), total_in_base(row["weighted"], rates))
            for key, row in sorted(months.items(), key=lambda item: (item[0] is None, item[0] or ""))]
    return rows, total_in_base(everything, rates), total_in_base(everything_weighted, rates)


def won_by_month(lead_ids, months: list[Month], rates: Rates, pipeline_id: int | None = None
                 ) -> tuple[list[WonMonth], MoneyTotal]:
    """Deals won in each month of the period (every month, none left out), with the month's
    target for ``pipeline_id`` (None: the workspace's), and the period's total."""
    if not months:
        return [], total_in_base({}, rates)
    won_at = func.coalesce(Lead.stage_entered_at, Lead.created_at)
    key = month_key(won_at, months).label("month")
    query = (in_scope(select(key, Lead.currency, func.count(), func.count(Lead.value_cents),
                             func.coalesce(func.sum(Lead.value_cents), 0))
                      .join(Stage, Stage.id == Lead.stage_id), lead_ids)
             .where(Stage.kind == "won",
                    won_at >= moment(months[0].start_at), won_at < moment(months[-1].end_at))
             .group_by(key, Lead.currency))
    by_month: dict[str, dict] = {}
    deals: dict[str, int] = {}
    everything: dict = {}
    for month, currency, count, valued, cents in db.session.execute(query):
        by_month.setdefault(month, {})[currency] = (valued, cents)
        deals[month] = deals.get(month, 0) + count
        _add(everything, currency, valued, cents)
    targets = targets_by_month([m.first_day for m in months], pipeline_id, rates)
    rows = [WonMonth(m.key, m.label, deals.get(m.key, 0), total_in_base(by_month.get(m.key, {}), rates),
                     targets.get(m.first_day)) for m in months]
    return rows, total_in_base(everything, rates)


def forecast(lead_ids, months: list[Month], today: date, rates: Rates, pipeline_id: int | None = None) -> Forecast:
    open_months, open_total, weighted_total = open_by_close_month(lead_ids, today, rates)
    won_months, won_total = won_by_month(lead_ids, months, rates, pipeline_id)
    return Forecast(rates.base, open_months, won_months, open_total, weighted_total, won_total)


# --- the report ----------------------------------------------------------------------------------

def compute(filters: ReportFilters, viewer) -> Forecast:
    return forecast(report_lead_ids(filters, viewer), period_months(filters.start, filters.end, filters.zone),
                    local_today(filters.zone), current_rates(), filters.pipeline_id)


def units(total: MoneyTotal | None) -> float:
    """A total in whole units of the base currency, for a chart."""
    return 0.0 if total is None else float(total.cents / 100)


def open_chart(data: Forecast, title: str):
    months = data.open_months
    return column_chart([month.label for month in months],
                        [("Unweighted", [units(m.unweighted) for m in months]),
                         ("Weighted", [units(m.weighted) for m in months])], title=title, unit=data.base)


def won_chart(data: Forecast, title: str):
    series = [("Won", [units(m.won) for m in data.won_months])]
    if data.has_targets:
        series.append(("Target", [units(m.target) for m in data.won_months]))
    return column_chart([m.label for m in data.won_months], series, title=title, unit=data.base)


def thumbnail(data: Forecast):
    return open_chart(data, "Open value by expected close month, in " + data.base)


def csv_table(data: Forecast) -> tuple[list[str], list[list]]:
    base = data.base
    header = ["Figure", "Month", "Deals", "Overdue deals", f"Value ({base})", f"Weighted value ({base})",
              f"Target ({base})", "% of target", "Not converted (no rate)"]

    def amount(total: MoneyTotal | None):
        return "" if total is None else Decimal(total.rounded_cents) / 100

    def apart(total: MoneyTotal) -> str:
        return "; ".join(f"{Decimal(part.rounded_cents) / 100} {part.currency}" for part in total.unconverted)

    rows = [["Open", month.key or NO_CLOSE_DATE, month.deals, month.overdue, amount(month.unweighted),
             amount(month.weighted), "", "", apart(month.unweighted)] for month in data.open_months]
    rows += [["Won", month.key, month.deals, "", amount(month.won), "", amount(month.target),
              "" if month.percent_of_target is None else month.percent_of_target, apart(month.won)]
             for month in data.won_months]
    return header, rows


REPORT = Report(
    "forecast", "Forecast",
    "Open deals by expected close month, at full value and weighted by their stage's win probability, in the base "
    "currency; and the value won in each month of the period against its target.",
    compute, thumbnail)
