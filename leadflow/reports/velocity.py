"""Pipeline velocity: how much won value the pipeline makes a day,

    (open deals × win rate × average won value) ÷ average cycle length,

with its four inputs, for the period and for each of its months (the reader's months):

- open deals: leads in an open stage at the end of the month (or period), read from stage
  history (``leadflow.reports.stays``), so a past month counts what was open then;
- win rate: of the deals closed in the month, the share won (won ÷ (won + lost));
- average won value: of the deals won in the month with a value, in the base currency (a
  currency with no rate to the base is reported and left out of the average);
- average cycle length: days from a lead's creation to its win, over the deals won in the month.

A deal is closed when it sits in a won or lost stage, in the month it entered that stage (a
deal won, reopened and won again counts once, when it was last won; one reopened and still
open does not count as closed). Each month's figures come from sums the database makes per
month, outcome and currency; the period's from the same sums added up.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from leadflow.extensions import db
from leadflow.governance.money import MoneyTotal, Rates, current_rates, total_in_base
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Stage
from leadflow.reports.charts import line_chart
from leadflow.reports.filters import ReportFilters, in_scope, report_lead_ids
from leadflow.reports.months import Month, month_key, period_months
from leadflow.reports.registry import Report
from leadflow.reports.stays import days_between, moment, open_at
from leadflow.web.sparkline import sparkline

CYCLE_DECIMALS = 6  # days from the database are floats: kept to well under a second


@dataclass(frozen=True)
class Velocity:
    key: str  # "2026-11", or "period"
    label: str
    open_deals: int
    won: int
    lost: int
    won_value: MoneyTotal  # every won deal's value, in the base currency
    valued_won: int  # won deals whose value is in the average (a value with a rate)
    cycle_days: Decimal | None  # average days from creation to the win

    @property
    def win_rate(self) -> Decimal | None:
        closed = self.won + self.lost
        return None if not closed else Decimal(self.won) / closed

    @property
    def average_won_cents(self) -> Decimal | None:
        return None if not self.valued_won else self.won_value.cents / self.valued_won

    @property
    def cents_per_day(self) -> Decimal | None:
        """None when an input is missing (no deal closed, none won with a value, no cycle)."""
        if self.win_rate is None or self.average_won_cents is None or not self.cycle_days:
            return None
        return self.open_deals * self.win_rate * self.average_won_cents / self.cycle_days


def _stage_filter(pipeline_id: int | None):
    return [] if pipeline_id is None else [Stage.pipeline_id == pipeline_id]


def open_deals_at(lead_ids, moments: list, pipeline_id: int | None = None) -> list[int]:
    """How many of the leads were in an open stage (of the pipeline, or any) at each moment,
    from their stage history (``leadflow.reports.stays.open_at``)."""
    stage_ids = list(db.session.scalars(select(Stage.id).where(Stage.kind == "open", *_stage_filter(pipeline_id))))
    return open_at(lead_ids, moments, stage_ids)


def _closings(lead_ids, months: list[Month], pipeline_id: int | None):
    """Rows (month key, "won"/"lost", currency, deals, deals with a value, value, days created → closed)."""
    closed_at = func.coalesce(Lead.stage_entered_at, Lead.created_at)
    key = month_key(closed_at, months).label("month")
    return db.session.execute(
        in_scope(select(key, Stage.kind, Lead.currency, func.count(Lead.id), func.count(Lead.value_cents),
                        func.coalesce(func.sum(Lead.value_cents), 0),
                        func.sum(days_between(Lead.created_at, closed_at)))
                 .join(Stage, Stage.id == Lead.stage_id), lead_ids)
        .where(Stage.kind.in_(("won", "lost")), *_stage_filter(pipeline_id),
               closed_at >= moment(months[0].start_at), closed_at < moment(months[-1].end_at))
        .group_by(key, Stage.kind, Lead.currency)).all()


class _Sums:
    def __init__(self):
        self.won = self.lost = 0
        self.days = 0.0
        self.values: dict[str, tuple[int, Decimal]] = {}

    def add(self, kind: str, currency: str, deals: int, valued: int, cents, days) -> None:
        if kind == "lost":
            self.lost += deals
            return
        self.won += deals
        self.days += float(days or 0)
        held = self.values.get(currency, (0, Decimal(0)))
        self.values[currency] = (held[0] + valued, held[1] + Decimal(cents))

    def velocity(self, key: str, label: str, open_deals: int, rates: Rates) -> Velocity:
        total = total_in_base(self.values, rates)
        valued = sum(n for currency, (n, _) in self.values.items() if currency == rates.base or rates.get(currency))
        cycle = None if not self.won else Decimal(str(round(self.days / self.won, CYCLE_DECIMALS)))
        return Velocity(key, label, open_deals, self.won, self.lost, total, valued, cycle)


def velocity(lead_ids, months: list[Month], rates: Rates, pipeline_id: int | None = None
             ) -> tuple[Velocity | None, list[Velocity]]:
    """The period's velocity and each month's (None and [] for a period with no month)."""
    if not months:
        return None, []
    open_at_end = open_deals_at(lead_ids, [m.end_at for m in months], pipeline_id)
    by_month = {m.key: _Sums() for m in months}
    period = _Sums()
    for key, kind, currency, deals, valued, cents, days in _closings(lead_ids, months, pipeline_id):
        by_month[key].add(kind, currency, deals, valued, cents, days)
        period.add(kind, currency, deals, valued, cents, days)
    trend = [by_month[m.key].velocity(m.key, m.label, n, rates) for m, n in zip(months, open_at_end)]
    label = months[0].label if len(months) == 1 else f"{months[0].label} – {months[-1].label}"
    return period.velocity("period", label, open_at_end[-1], rates), trend


# --- the report ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class VelocityReport:
    base: str
    period: Velocity | None
    trend: list[Velocity]

    @property
    def empty(self) -> bool:
        return self.period is None or (not self.period.open_deals and not self.period.won and not self.period.lost)

    def chart(self, title: str = "Pipeline velocity per day, each month"):
        return velocity_chart(self, title)

    def sparklines(self) -> dict:
        return input_sparklines(self)


def compute(filters: ReportFilters, viewer) -> VelocityReport:
    rates = current_rates()
    period, trend = velocity(report_lead_ids(filters, viewer), period_months(filters.start, filters.end, filters.zone),
                             rates, filters.pipeline_id)
    return VelocityReport(rates.base, period, trend)


def _units(cents: Decimal | None) -> float:
    return 0.0 if cents is None else float(cents / 100)


def velocity_chart(data: VelocityReport, title: str):
    return line_chart([v.label for v in data.trend], [("Per day", [_units(v.cents_per_day) for v in data.trend])],
                      title=title, unit=data.base)


def input_sparklines(data: VelocityReport) -> dict:
    """A small trend of each input across the months, keyed by input."""
    trend = data.trend
    return {
        "open": sparkline([v.open_deals for v in trend], title="Open deals at each month's end"),
        "win_rate": sparkline([None if v.win_rate is None else float(v.win_rate) * 100 for v in trend],
                              title="Win rate each month"),
        "value": sparkline([None if v.average_won_cents is None else _units(v.average_won_cents) for v in trend],
                           title="Average won value each month"),
        "cycle": sparkline([v.cycle_days for v in trend], title="Average cycle length each month"),
    }


def thumbnail(data: VelocityReport):
    return velocity_chart(data, "Pipeline velocity per day, each month")


def _rounded(value: Decimal | None, places: str = "0.01"):
    return "" if value is None else value.quantize(Decimal(places))


def csv_table(data: VelocityReport) -> tuple[list[str], list[list]]:
    base = data.base
    header = ["Month", "Open deals at its end", "Won", "Lost", "Win rate %", f"Average won value ({base})",
              "Average cycle (days)", f"Velocity per day ({base})", "Won value not converted (no rate)"]
    rows = []
    for v in [*data.trend, *([data.period] if data.period else [])]:
        rows.append([v.key if v.key != "period" else f"Period ({v.label})", v.open_deals, v.won, v.lost,
                     "" if v.win_rate is None else _rounded(v.win_rate * 100, "0.1"),
                     "" if v.average_won_cents is None else _rounded(v.average_won_cents / 100),
                     _rounded(v.cycle_days, "0.1"),
                     "" if v.cents_per_day is None else _rounded(v.cents_per_day / 100),
                     "; ".join(f"{Decimal(p.rounded_cents) / 100} {p.currency}" for p in v.won_value.unconverted)])
    return header, rows


REPORT = Report(
    "velocity", "Pipeline velocity",
    "(Open deals × win rate × average won value) ÷ average days from creation to the win: the value the pipeline "
    "wins a day, for the period and each month, with the four inputs.",
    compute, thumbnail)
