"""The one small trend line of the app, drawn on the server: inline SVG, no script (the CSP
allows none inline), for the home page's month figures and the reports (an input's trend, an
index card's thumbnail).

``sparkline(values, title=…, mark_last=…)`` returns markup safe to place in a page: an
``<svg class="sparkline" role="img">`` whose ``<title>`` (read by screen readers and shown on
hover) holds the text alternative. A missing value (None: a period with nothing to measure)
breaks the line there rather than drawing it as 0; a lone point between gaps is a dot.
``mark_last`` marks the newest point (the home page's "this month"). The line takes the
text colour (``currentColor``), so a page's CSS colours it and it prints.
"""

from __future__ import annotations

import math

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 120, 32, 3


def _known(value) -> float | None:
    """``value`` as a finite number, or None for a gap."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _points(values: list[float | None]) -> list[tuple[float, float] | None]:
    known = [v for v in values if v is not None]
    if not known:
        return [None] * len(values)
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    step = (WIDTH - 2 * PAD) / max(1, len(values) - 1)
    return [None if v is None else
            (round(PAD + i * step, 1),
             round(HEIGHT - PAD - ((v - low) / span) * (HEIGHT - 2 * PAD) if high != low else HEIGHT / 2, 1))
            for i, v in enumerate(values)]


def _runs(points: list[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """The unbroken stretches of ``points`` (a None ends one)."""
    runs, run = [], []
    for point in points:
        if point is None:
            if run:
                runs.append(run)
            run = []
        else:
            run.append(point)
    if run:
        runs.append(run)
    return runs


def sparkline(values, *, title: str, mark_last: bool = False) -> Markup:
    """An SVG line through ``values`` (oldest first; None for a gap), its last point marked
    when ``mark_last`` and known."""
    points = _points([_known(v) for v in values])
    paths = "".join(
        f'<polyline points="{" ".join(f"{x},{y}" for x, y in run)}" fill="none" stroke="currentColor" '
        f'stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round"/>' if len(run) > 1 else
        f'<circle cx="{run[0][0]}" cy="{run[0][1]}" r="1.5" fill="currentColor"/>' for run in _runs(points))
    last = points[-1] if points and mark_last else None
    dot = f'<circle cx="{last[0]}" cy="{last[1]}" r="2.5" fill="currentColor"/>' if last else ""
    return Markup(
        f'<svg class="sparkline" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{paths}{dot}</svg>")
