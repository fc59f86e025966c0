"""The baseline of ``bench_reports.py``: for each report, its main figures computed with bare
SQL written by hand, the plainest correct aggregate (text SQL, per dialect where SQLite and
PostgreSQL differ: PostgreSQL has ``percentile_cont`` / ``percentile_disc`` and ``GROUPING
SETS``, SQLite ranks rows with ``ROW_NUMBER()`` and ``COUNT() OVER``), independent of the
report's own code. Each baseline returns its headline numbers; ``headline`` takes the same
numbers from the report's data, and the benchmark checks the two agree, so the baseline
computes what the report shows.

Scope: an admin over the whole data set (every live lead), one pipeline, the UTC time zone
(the bench's admin's): weeks start on the period's first day, months are UTC calendar months.
What a baseline leaves out is said in its docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, text

from leadflow.db import UTCDateTime


@dataclass(frozen=True)
class Period:
    start_at: datetime
    end_at: datetime
    now: datetime
    pipeline_id: int
    months: list[tuple[str, datetime, datetime]]  # (key "2026-11", start, end), clipped to the period


def _run(connection, sql: str, **params):
    """Rows of ``sql``; ``:start_at``-style moments are bound as stored (UTC)."""
    statement = text(sql)
    moments = [bindparam(name, type_=UTCDateTime()) for name in params
               if isinstance(params[name], datetime) and f":{name}" in sql]
    if moments:
        statement = statement.bindparams(*moments)
    return connection.execute(statement, {k: v for k, v in params.items() if f":{k}" in sql}).all()


def _pg(connection) -> bool:
    return connection.dialect.name == "postgresql"


def _days(connection, later: str, earlier: str) -> str:
    if _pg(connection):
        return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400.0)"
    return f"(julianday({later}) - julianday({earlier}))"


def _month(connection, column: str) -> str:
    return f"to_char({column}, 'YYYY-MM')" if _pg(connection) else f"strftime('%Y-%m', {column})"


def _stats(connection, values: str, *, median: str) -> str:
    """SELECT grp, n, median, p90 FROM ``values`` (columns grp, x; NULL x not counted) per grp.
    ``median``: "cont" (the mean of the middle two) or "disc" (the lower middle: nearest rank);
    the 90th percentile is the nearest rank, the ⌈0.9·n⌉-th smallest."""
    if _pg(connection):
        return (f"SELECT grp, count(x) AS n, percentile_{median}(0.5) WITHIN GROUP (ORDER BY x) AS median, "
                f"percentile_disc(0.9) WITHIN GROUP (ORDER BY x) AS p90 FROM ({values}) v GROUP BY grp")
    middle = "rn IN ((n + 1) / 2, (n + 2) / 2)" if median == "cont" else "rn = (n + 1) / 2"
    return (f"SELECT grp, max(n) AS n, avg(CASE WHEN {middle} THEN x END) AS median, "
            f"max(CASE WHEN rn = (9 * n + 9) / 10 THEN x END) AS p90 FROM ("
            f"SELECT grp, x, row_number() OVER (PARTITION BY grp ORDER BY x IS NULL, x) AS rn, "
            f"count(x) OVER (PARTITION BY grp) AS n FROM ({values}) v) r GROUP BY grp")


def _round(value, places: int = 1):
    return None if value is None else round(float(value), places)


LIVE = "l.deleted_at IS NULL"
COHORT = f"{LIVE} AND l.created_at >= :start_at AND l.created_at < :end_at"


# --------------------------------------------------------------------------- the baselines


def funnel(connection, p: Period) -> dict:
    """Leads created in the period, and how many reached each stage step (open and won stages
    by position) and each lifecycle step: each lead's furthest step over its history and its
    current row, counted per furthest step."""
    stages = _run(connection, f"""
        SELECT per_lead.furthest, count(*) FROM (
          SELECT seen.lead_id, max(seen.step) AS furthest FROM (
            SELECT sc.lead_id, s.position AS step FROM stage_changes sc
            JOIN leads l ON l.id = sc.lead_id JOIN stages s ON s.id = sc.to_stage_id
            WHERE {COHORT} AND s.pipeline_id = :pipeline AND s.kind <> 'lost'
            UNION ALL
            SELECT l.id, s.position FROM leads l
            LEFT JOIN stages s ON s.id = l.stage_id AND s.pipeline_id = :pipeline AND s.kind <> 'lost'
            WHERE {COHORT}) seen
          GROUP BY seen.lead_id) per_lead
        GROUP BY per_lead.furthest""", start_at=p.start_at, end_at=p.end_at, pipeline=p.pipeline_id)
    rank = ("CASE {0} WHEN 'lead' THEN 0 WHEN 'mql' THEN 1 WHEN 'sql' THEN 2 WHEN 'opportunity' THEN 3 "
            "WHEN 'customer' THEN 4 END")
    lifecycle = _run(connection, f"""
        SELECT per_lead.furthest, count(*) FROM (
          SELECT seen.lead_id, max(seen.step) AS furthest FROM (
            SELECT lc.lead_id, {rank.format('lc.to_lifecycle')} AS step FROM lifecycle_changes lc
            JOIN leads l ON l.id = lc.lead_id WHERE {COHORT}
            UNION ALL
            SELECT l.id, {rank.format('l.lifecycle')} FROM leads l WHERE {COHORT}) seen
          GROUP BY seen.lead_id) per_lead
        GROUP BY per_lead.furthest""", start_at=p.start_at, end_at=p.end_at)

    positions = [position for position, in _run(connection, """
        SELECT position FROM stages WHERE pipeline_id = :pipeline AND kind <> 'lost' ORDER BY position, id""",
                                                pipeline=p.pipeline_id)]

    def reached(rows, steps) -> list[int]:
        return [sum(int(n) for step, n in rows if step is not None and step >= at) for at in steps]

    return {"cohort": sum(int(n) for _, n in stages), "stages": reached(stages, positions),
            "lifecycle": reached(lifecycle, range(5))}


def sources(connection, p: Period) -> dict:
    """Per source: leads created in the period, how many are won now (won stage or customer),
    and the median days from creation to first entering a won stage, of those won."""
    won = "(s.kind = 'won' OR l.lifecycle = 'customer')"
    volumes = _run(connection, f"""
        SELECT l.source, count(*), sum(CASE WHEN {won} THEN 1 ELSE 0 END)
        FROM leads l LEFT JOIN stages s ON s.id = l.stage_id WHERE {COHORT} GROUP BY l.source""",
                   start_at=p.start_at, end_at=p.end_at)
    medians = _run(connection, _stats(connection, f"""
        SELECT l.source AS grp, {_days(connection, 'min(sc.at)', 'l.created_at')} AS x
        FROM leads l LEFT JOIN stages s ON s.id = l.stage_id
        JOIN stage_changes sc ON sc.lead_id = l.id JOIN stages ws ON ws.id = sc.to_stage_id AND ws.kind = 'won'
        WHERE {COHORT} AND {won} GROUP BY l.id, l.source, l.created_at""", median="cont"),
                   start_at=p.start_at, end_at=p.end_at)
    median_of = {grp: _round(median) for grp, _, median, _ in medians}
    return {source: (int(leads), int(won_count), median_of.get(source)) for source, leads, won_count in volumes}


def time_in_stage(connection, p: Period) -> dict:
    """Per open stage: the stays that ended in the period (count, median and p90 days; a stay
    runs from the lead's change before, or its creation, to the change that left the stage),
    the leads in it now; the ten open leads longest in their stage; backward moves."""
    moves = f"""
        SELECT sc.lead_id, sc.from_stage_id, sc.at, l.created_at,
               lag(sc.at) OVER (PARTITION BY sc.lead_id ORDER BY sc.at, sc.id) AS prev_at
        FROM stage_changes sc JOIN leads l ON l.id = sc.lead_id WHERE {LIVE} AND sc.at < :end_at"""
    ended = _run(connection, _stats(connection, f"""
        SELECT m.from_stage_id AS grp, {_days(connection, 'm.at', 'coalesce(m.prev_at, m.created_at)')} AS x
        FROM ({moves}) m JOIN stages s ON s.id = m.from_stage_id
        WHERE m.at >= :start_at AND s.pipeline_id = :pipeline AND s.kind = 'open'
          AND (m.prev_at IS NOT NULL OR m.created_at < m.at)""", median="cont"),
                 start_at=p.start_at, end_at=p.end_at, pipeline=p.pipeline_id)
    current = _run(connection, _stats(connection, f"""
        SELECT l.stage_id AS grp, {_days(connection, ':now', 'coalesce(l.stage_entered_at, l.created_at)')} AS x
        FROM leads l JOIN stages s ON s.id = l.stage_id WHERE {LIVE} AND s.pipeline_id = :pipeline AND s.kind = 'open'
        """, median="cont"), now=p.now, pipeline=p.pipeline_id)
    stuck = _run(connection, f"""
        SELECT l.id FROM leads l JOIN stages s ON s.id = l.stage_id
        WHERE {LIVE} AND s.pipeline_id = :pipeline AND s.kind = 'open'
        ORDER BY coalesce(l.stage_entered_at, l.created_at), l.id LIMIT 10""", pipeline=p.pipeline_id)
    backward = _run(connection, f"""
        SELECT f.name, t.name, count(*), count(DISTINCT sc.lead_id) FROM stage_changes sc
        JOIN leads l ON l.id = sc.lead_id JOIN stages f ON f.id = sc.from_stage_id JOIN stages t ON t.id = sc.to_stage_id
        WHERE {LIVE} AND f.pipeline_id = :pipeline AND t.pipeline_id = :pipeline AND t.position < f.position
          AND sc.at >= :start_at AND sc.at < :end_at
        GROUP BY f.name, t.name""", start_at=p.start_at, end_at=p.end_at, pipeline=p.pipeline_id)
    return {"ended": {stage: (int(n), _round(median), _round(p90)) for stage, n, median, p90 in ended if n},
            "current": {stage: int(n) for stage, n, _, _ in current},
            "stuck": [lead_id for lead_id, in stuck],
            "backward": sorted((f, t, int(n), int(leads)) for f, t, n, leads in backward)}


def forecast(connection, p: Period) -> dict:
    """Open deals now by expected close month (count, value, value × probability, per currency)
    and deals won in each month of the period (count, value, per currency). Targets (a few
    rows) are left out."""
    open_rows = _run(connection, f"""
        SELECT {_month(connection, 'l.expected_close_date')}, l.currency, count(*), sum(l.value_cents),
               sum(l.value_cents * s.probability)
        FROM leads l JOIN stages s ON s.id = l.stage_id WHERE {LIVE} AND s.kind = 'open' GROUP BY 1, 2""")
    won_at = "coalesce(l.stage_entered_at, l.created_at)"
    won_rows = _run(connection, f"""
        SELECT {_month(connection, won_at)}, l.currency, count(*), sum(l.value_cents)
        FROM leads l JOIN stages s ON s.id = l.stage_id
        WHERE {LIVE} AND s.kind = 'won' AND {won_at} >= :start_at AND {won_at} < :end_at GROUP BY 1, 2""",
                    start_at=p.start_at, end_at=p.end_at)
    won: dict[str, int] = {}
    for month, _, deals, _ in won_rows:
        won[month] = won.get(month, 0) + int(deals)
    return {"open_deals": sum(int(r[2]) for r in open_rows), "won": won}


def speed_to_lead(connection, p: Period) -> dict:
    """Leads created in the period, overall, per owner, per source and per week: leads,
    answered, within 5 minutes and 1 hour, median (nearest rank) and p90 seconds to the first
    response."""
    seconds = ("EXTRACT(EPOCH FROM (l.first_response_at - l.created_at))" if _pg(connection)
               else "(julianday(l.first_response_at) - julianday(l.created_at)) * 86400.0")
    week = ("floor(EXTRACT(EPOCH FROM (l.created_at - :start_at)) / 604800)" if _pg(connection)
            else "CAST((julianday(l.created_at) - julianday(:start_at)) / 7 AS INTEGER)")
    figures = ("count(*) AS leads, count(x) AS answered, sum(CASE WHEN x <= 300 THEN 1 ELSE 0 END), "
               "sum(CASE WHEN x <= 3600 THEN 1 ELSE 0 END)")
    responses = (f"SELECT l.owner_id, l.source, {week} AS week, {seconds} AS x FROM leads l WHERE {COHORT}")
    if _pg(connection):
        rows = _run(connection, f"""
            SELECT CASE WHEN GROUPING(owner_id) = 0 THEN 'owner' WHEN GROUPING(source) = 0 THEN 'source'
                        WHEN GROUPING(week) = 0 THEN 'week' ELSE 'all' END AS grp,
                   coalesce(CAST(owner_id AS TEXT), source, CAST(week AS TEXT)) AS key, {figures},
                   percentile_disc(0.5) WITHIN GROUP (ORDER BY x), percentile_disc(0.9) WITHIN GROUP (ORDER BY x)
            FROM ({responses}) r GROUP BY GROUPING SETS ((), (owner_id), (source), (week))""",
                    start_at=p.start_at, end_at=p.end_at)
    else:
        grouped = " UNION ALL ".join(
            f"SELECT '{name}' AS grp, CAST({column} AS TEXT) AS key, x FROM responses"
            for name, column in (("all", "NULL"), ("owner", "owner_id"), ("source", "source"), ("week", "week")))
        rows = _run(connection, f"""
            WITH responses AS MATERIALIZED ({responses})
            SELECT grp, key, {figures}, max(CASE WHEN rn = (n + 1) / 2 THEN x END),
                   max(CASE WHEN rn = (9 * n + 9) / 10 THEN x END)
            FROM (SELECT grp, key, x, row_number() OVER (PARTITION BY grp, key ORDER BY x IS NULL, x) AS rn,
                         count(x) OVER (PARTITION BY grp, key) AS n FROM ({grouped}) g) ranked
            GROUP BY grp, key""", start_at=p.start_at, end_at=p.end_at)
    found = {(grp, key): (int(leads), int(answered), _round(median, 0)) for grp, key, leads, answered, _, _, median, _
             in rows}
    return {"all": found[("all", None)],
            "owners": {key: v for (grp, key), v in found.items() if grp == "owner"},
            "weeks": {int(float(key)): v[0] for (grp, key), v in found.items() if grp == "week"}}


def activity(connection, p: Period) -> dict:
    """Per person: calls, e-mails and meetings logged in the period on live leads; tasks done
    in the period and open tasks overdue now; per owner, leads that entered a won or lost stage
    in the period (each lead once)."""
    logged = _run(connection, f"""
        SELECT a.actor_id, sum(CASE WHEN a.kind = 'call' THEN 1 ELSE 0 END),
               sum(CASE WHEN a.kind = 'email' THEN 1 ELSE 0 END), sum(CASE WHEN a.kind = 'meeting' THEN 1 ELSE 0 END)
        FROM activities a JOIN leads l ON l.id = a.lead_id
        WHERE {LIVE} AND a.kind IN ('call', 'email', 'meeting') AND a.occurred_at >= :start_at AND a.occurred_at < :end_at
        GROUP BY a.actor_id""", start_at=p.start_at, end_at=p.end_at)
    _run(connection, f"""
        SELECT t.done_by_id, count(*) FROM tasks t JOIN leads l ON l.id = t.lead_id
        WHERE {LIVE} AND t.done_at >= :start_at AND t.done_at < :end_at GROUP BY t.done_by_id""",
         start_at=p.start_at, end_at=p.end_at)
    _run(connection, f"""
        SELECT t.assignee_id, count(*) FROM tasks t JOIN leads l ON l.id = t.lead_id
        WHERE {LIVE} AND t.done_at IS NULL AND t.due_at < :now GROUP BY t.assignee_id""", now=p.now)
    outcomes = _run(connection, f"""
        SELECT l.owner_id, sum(e.won), sum(e.lost) FROM leads l JOIN (
          SELECT sc.lead_id, max(CASE WHEN s.kind = 'won' THEN 1 ELSE 0 END) AS won,
                 max(CASE WHEN s.kind = 'lost' THEN 1 ELSE 0 END) AS lost
          FROM stage_changes sc JOIN stages s ON s.id = sc.to_stage_id
          WHERE s.kind IN ('won', 'lost') AND sc.at >= :start_at AND sc.at < :end_at GROUP BY sc.lead_id) e
          ON e.lead_id = l.id
        WHERE {LIVE} GROUP BY l.owner_id""", start_at=p.start_at, end_at=p.end_at)
    return {"logged": {actor: (int(c), int(e), int(m)) for actor, c, e, m in logged},
            "outcomes": {owner: (int(w), int(lost)) for owner, w, lost in outcomes}}


def velocity(connection, p: Period) -> dict:
    """Open deals at each month's end (the leads whose last stage change before it entered an
    open stage: each change's span until the lead's next one, counted where it covers the
    moment), and per month the deals won and lost (by when they entered their won or lost
    stage), their value per currency and days from creation. (A lead created in a stage
    with no change entering it, which the bench data has none of, is left out of the spans.)"""
    covers = ", ".join(f"sum(CASE WHEN at < :m{i} AND (until IS NULL OR until >= :m{i}) THEN 1 ELSE 0 END)"
                       for i in range(len(p.months)))
    ends = {f"m{i}": end for i, (_, _, end) in enumerate(p.months)}
    open_deals = _run(connection, f"""
        SELECT {covers} FROM (
          SELECT sc.to_stage_id, sc.at, lead(sc.at) OVER (PARTITION BY sc.lead_id ORDER BY sc.at, sc.id) AS until
          FROM stage_changes sc JOIN leads l ON l.id = sc.lead_id WHERE {LIVE}) spans
        JOIN stages s ON s.id = spans.to_stage_id WHERE s.kind = 'open'""", **ends)[0]
    closed_at = "coalesce(l.stage_entered_at, l.created_at)"
    closings = _run(connection, f"""
        SELECT {_month(connection, closed_at)}, s.kind, l.currency, count(*), count(l.value_cents),
               sum(l.value_cents), sum({_days(connection, closed_at, 'l.created_at')})
        FROM leads l JOIN stages s ON s.id = l.stage_id
        WHERE {LIVE} AND s.kind IN ('won', 'lost') AND {closed_at} >= :start_at AND {closed_at} < :end_at
        GROUP BY 1, 2, 3""", start_at=p.start_at, end_at=p.end_at)
    won: dict[str, int] = {}
    lost: dict[str, int] = {}
    for month, kind, _, deals, *_ in closings:
        target = won if kind == "won" else lost
        target[month] = target.get(month, 0) + int(deals)
    return {"open": [int(n) for n in open_deals], "won": won, "lost": lost}


def data_quality(connection, p: Period) -> dict:
    """Leads lost in the period (in a lost stage they entered then) and disqualified in the
    period (and still so) by reason; live leads missing an email, phone, owner or source; open
    leads untouched for 90 days; the pairs of live leads sharing a phone, an e-mail (held or
    parked beside another's) or an organization, where the duplicates queue looks for them
    (it then compares the names at one organization in Python, which this leaves out; the
    pairs are not compared with the report's)."""
    reason = "CASE WHEN {0} IS NULL OR trim({0}) = '' THEN 'No reason given' ELSE trim({0}) END"
    reasons = _run(connection, f"""
        SELECT 'Lost', {reason.format('l.won_lost_reason')}, count(*) FROM leads l JOIN stages s ON s.id = l.stage_id
        WHERE {LIVE} AND s.kind = 'lost' AND l.stage_entered_at >= :start_at AND l.stage_entered_at < :end_at
        GROUP BY 2
        UNION ALL
        SELECT 'Disqualified', {reason.format('l.disqualified_reason')}, count(*) FROM leads l
        WHERE {LIVE} AND l.lifecycle = 'disqualified' AND EXISTS (
          SELECT 1 FROM lifecycle_changes lc WHERE lc.lead_id = l.id AND lc.to_lifecycle = 'disqualified'
            AND lc.at >= :start_at AND lc.at < :end_at)
        GROUP BY 2""", start_at=p.start_at, end_at=p.end_at)
    blank = "CASE WHEN {0} IS NULL OR trim({0}) = '' THEN 1 ELSE 0 END"
    missing = _run(connection, f"""
        SELECT count(*), sum({blank.format('l.email')}), sum({blank.format('l.phone')}),
               sum(CASE WHEN l.owner_id IS NULL THEN 1 ELSE 0 END), sum({blank.format('l.source')})
        FROM leads l WHERE {LIVE}""")[0]
    untouched = _run(connection, f"""
        SELECT count(*) FROM leads l LEFT JOIN stages s ON s.id = l.stage_id
        WHERE {LIVE} AND (s.kind IS NULL OR s.kind NOT IN ('won', 'lost')) AND l.lifecycle <> 'disqualified'
          AND coalesce(l.last_activity_at, l.created_at) < :untouched_before""",
                     untouched_before=p.now - timedelta(days=90))[0][0]
    for column in ("l.phone", "l.email_key", "l.shared_email_key", "l.organization_id"):
        _run(connection, f"""
            SELECT sum(n * (n - 1) / 2) FROM (
              SELECT count(*) AS n FROM leads l WHERE l.deleted_at IS NULL AND {column} IS NOT NULL
              GROUP BY {column} HAVING count(*) > 1) shared""")
    return {"reasons": sorted((kind, why, int(n)) for kind, why, n in reasons),
            "missing": tuple(int(v or 0) for v in missing), "untouched": int(untouched)}


BASELINES = {"funnel": funnel, "sources": sources, "time-in-stage": time_in_stage, "forecast": forecast,
             "speed-to-lead": speed_to_lead, "activity": activity, "velocity": velocity,
             "data-quality": data_quality}


# --------------------------------------------------------------------------- the report's same figures


def headline(slug: str, data) -> dict:
    """The figures ``BASELINES[slug]`` returns, read from the report's computed data."""
    if slug == "funnel":
        return {"cohort": data.stages.cohort, "stages": [s.reached for s in data.stages.steps],
                "lifecycle": [s.reached for s in data.lifecycle.steps]}
    if slug == "sources":
        return {(None if row.source == "(no source)" else row.source): (row.leads, row.won, row.median_days)
                for row in data.rows if row.leads}
    if slug == "time-in-stage":
        return {"ended": {s.stage_id: (s.left, s.median_days, s.p90_days) for s in data.stages if s.left},
                "current": {s.stage_id: s.current for s in data.stages if s.current},
                "stuck": [s.lead_id for s in data.stuck],
                "backward": sorted((b.from_stage, b.to_stage, b.moves, b.leads) for b in data.backward)}
    if slug == "forecast":
        return {"open_deals": sum(m.deals for m in data.open_months),
                "won": {m.key: m.deals for m in data.won_months if m.deals}}
    if slug == "speed-to-lead":
        def figures(row):
            return (row.leads, row.answered, _round(row.median_seconds, 0))
        return {"all": figures(data.overall), "owners": {str(r.key) if r.key is not None else None: figures(r)
                                                         for r in data.by_owner},
                "weeks": {i: r.leads for i, r in enumerate(data.weekly) if r.leads}}
    if slug == "activity":
        return {"logged": {r.user_id: (r.calls, r.emails, r.meetings) for r in data.rows
                           if r.calls or r.emails or r.meetings},
                "outcomes": {r.user_id: (r.won, r.lost) for r in data.rows if r.won or r.lost}}
    if slug == "velocity":
        return {"open": [v.open_deals for v in data.trend], "won": {v.key: v.won for v in data.trend if v.won},
                "lost": {v.key: v.lost for v in data.trend if v.lost}}
    if slug == "data-quality":
        m = data.missing
        return {"reasons": sorted((r.kind, r.reason, r.leads) for r in data.reasons),
                "missing": (m.leads, m.no_email, m.no_phone, m.no_owner, m.no_source), "untouched": data.untouched}
    raise KeyError(slug)
