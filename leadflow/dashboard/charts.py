"""A small trend line drawn on the server: inline SVG, no script (the CSP allows none inline).

``sparkline(values, title=…)`` returns markup safe to place in a page: an ``<svg role="img">``
with a ``<title>`` (read by screen readers and shown on hover) holding the text alternative.
A missing value (None: a month with nothing to measure) breaks the line there.
"""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 120, 32, 3


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


def sparkline(values: list[float | None], *, title: str) -> Markup:
    """An SVG line through ``values`` (oldest first), its last point marked."""
    points = _points(list(values))
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
    paths = "".join(
        f'<polyline points="{" ".join(f"{x},{y}" for x, y in r)}" fill="none" stroke="currentColor" '
        f'stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round"/>' if len(r) > 1 else
        f'<circle cx="{r[0][0]}" cy="{r[0][1]}" r="1.5" fill="currentColor"/>' for r in runs)
    last = points[-1] if points else None
    dot = f'<circle cx="{last[0]}" cy="{last[1]}" r="2.5" fill="currentColor"/>' if last else ""
    return Markup(
        f'<svg class="sparkline" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{paths}{dot}</svg>")
