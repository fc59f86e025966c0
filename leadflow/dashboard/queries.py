"""The home page: what each person has to do today and how their month goes.

``home_context`` builds the whole page and each htmx part of it, so they cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from leadflow.accounts.zones import user_zone
from leadflow.activities.queries import duration_text
from leadflow.activities.services import can_manage_task
from leadflow.dashboard.kept import months_with_this_one
from leadflow.dashboard.month import figures, month_starts
from leadflow.dashboard.scope import scope_for, views_for
from leadflow.dashboard.today import summary_counts, today_context
from leadflow.governance.money import current_rates
from leadflow.web.formatting import money
from leadflow.web.sparkline import sparkline


def _trend_text(label: str, names: list[str], values: list, shown) -> str:
    """The chart's text alternative: each month and its figure."""
    return f"{label}, last {len(names)} months: " + "; ".join(
        f"{name} {'none' if value is None else shown(value)}" for name, value in zip(names, values))


def charts(month: dict) -> dict:
    names, base = month["month_names"], month["base_currency"]

    def in_money(value):
        return money(round(value * 100), base)

    return {
        "won_chart": sparkline(month["won_value"].trend, mark_last=True, title=_trend_text(
            "Won value", names, month["won_value"].trend, in_money)),
        "response_chart": sparkline(month["response"].trend, mark_last=True, title=_trend_text(
            "Median time to first response", names, month["response"].trend, duration_text_seconds)),
        "pipeline_chart": sparkline(month["pipeline"].trend, mark_last=True, title=_trend_text(
            "Weighted open pipeline at each month's end", names, month["pipeline"].trend, in_money)),
    }


def duration_text_seconds(seconds: float | None) -> str:
    return "—" if seconds is None else duration_text(timedelta(seconds=seconds))


def month_context(scope, viewer, now: datetime) -> dict:
    """"This month": the kept closed months (worked out once when missing) and the current
    one counted live, in the viewer's months."""
    zone = user_zone(viewer)
    starts = month_starts(zone, now)
    rates = current_rates()
    months = months_with_this_one(scope, zone, starts, now)
    return {
        **figures(months, rates),
        "month_names": [start.astimezone(zone).strftime("%b %Y") for start in starts[:-1]],
        "base_currency": rates.base,
    }


def scope_context(viewer, asked_view: str | None) -> dict:
    scope = scope_for(viewer, asked_view)
    return {"scope": scope, "views": views_for(viewer), "view_message": scope.message}


def today_part(viewer, asked_view: str | None, now: datetime) -> dict:
    """What the "Today" part needs (also its htmx refresh)."""
    context = scope_context(viewer, asked_view)
    context.update(today_context(context["scope"], viewer, now))
    context.update({
        "now": now, "zone": user_zone(viewer), "show_lead": True,
        "can_manage": lambda task: can_manage_task(viewer, task),
    })
    return context


def summary_part(viewer, asked_view: str | None, now: datetime) -> dict:
    """What the summary line alone needs (its htmx refresh): the four counts, no rows."""
    context = scope_context(viewer, asked_view)
    context.update(summary_counts(context["scope"], viewer, now))
    return context


def month_part(viewer, asked_view: str | None, now: datetime) -> dict:
    """What the "This month" part needs."""
    context = scope_context(viewer, asked_view)
    month = month_context(context["scope"], viewer, now)
    context.update(month)
    context.update(charts(month))
    context.update({"now": now, "duration": duration_text_seconds, "month_loaded": True})
    return context


def home_context(viewer, asked_view: str | None, now: datetime, *, with_month: bool = False) -> dict:
    """The home page. "This month" reads months of history: the page asks for it after it
    has shown "Today" (``with_month`` draws both at once, for a browser without script)."""
    context = today_part(viewer, asked_view, now)
    if with_month:
        context.update(month_part(viewer, asked_view, now))
    return context
