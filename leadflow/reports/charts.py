"""Server-drawn SVG charts: no script, no inline style, readable at 375 px.

Each function returns the Markup of one ``<svg role="img">`` named by its ``<title>``; the
report's table beneath it is the text alternative. Every label is escaped here. The drawing
is sized in a fixed ``viewBox`` and scales to the width of its container (``static/css/
reports.css`` styles it through classes: ``chart-bar``, ``series-0`` … ``series-5``, …).
A chart with no data says so inside the picture instead of drawing empty axes. The small
trend line (an input's trend, a thumbnail) is the app's one ``web.sparkline``.
"""

from __future__ import annotations

import hashlib
import math

from markupsafe import Markup, escape

WIDTH = 400  # viewBox units; at 375 px wide a 13-unit font reads as 12 px
FONT = 13
SERIES_CLASSES = 6
LABEL_MAX = 44
EMPTY_TEXT = "No data for these filters"


def _num(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def format_value(value: float, unit: str = "") -> str:
    """1,234 or 12.5, then the unit ("%" sticks to the number, any other unit follows a space)."""
    value = _num(value)
    text = f"{value:,.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:,.1f}"
    if not unit:
        return text
    return text + unit if unit == "%" else f"{text} {unit}"


def _short(label: str) -> str:
    label = str(label)
    return label if len(label) <= LABEL_MAX else label[:LABEL_MAX - 1] + "…"


def _f(x: float) -> str:
    return f"{x:.1f}".removesuffix(".0")


def _svg(kind: str, title: str, width: int, height: int, body: str) -> Markup:
    digest = hashlib.sha1(f"{kind}\x00{title}\x00{body}".encode()).hexdigest()[:10]
    title_id = f"chart-{digest}"
    return Markup(
        f'<svg class="chart chart-{kind}" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMidYMin meet" role="img" aria-labelledby="{title_id}" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="{title_id}">{escape(title)}</title>{body}</svg>')


def _empty(kind: str, title: str, height: int = 80) -> Markup:
    body = (f'<text class="chart-empty" x="{WIDTH // 2}" y="{height // 2}" text-anchor="middle" '
            f'dominant-baseline="middle">{EMPTY_TEXT}</text>')
    return _svg(kind, title, WIDTH, height, body)


def _tip(text: str) -> str:
    """A hover text (an SVG <title> inside a group)."""
    return f"<title>{escape(text)}</title>"


def bar_chart(rows: list[tuple[str, float]], *, title: str, unit: str = "") -> Markup:
    """Horizontal bars, one per (label, value) row, the label above its bar."""
    if not rows:
        return _empty("bar", title)
    values = [_num(v) for _, v in rows]
    top = max(max(values), 0) or 1
    shown = [format_value(value, unit) for value in values]
    row_h, bar_h = 36, 12
    room = WIDTH - 10 - 7 * max(len(text) for text in shown)  # the longest value fits after its bar
    parts = []
    for i, ((label, _), value, text) in enumerate(zip(rows, values, shown)):
        y = i * row_h
        width = max(value, 0) / top * room
        parts.append(
            f'<g class="chart-row">{_tip(f"{label}: {text}")}'
            f'<text class="chart-label" x="0" y="{y + FONT}">{escape(_short(label))}</text>'
            f'<rect class="chart-bar-fill series-0" x="0" y="{y + 17}" width="{_f(width)}" height="{bar_h}" rx="2"/>'
            f'<text class="chart-value" x="{_f(width + 6)}" y="{y + 27}">{escape(text)}</text></g>')
    return _svg("bar", title, WIDTH, len(rows) * row_h + 4, "".join(parts))


def funnel_chart(steps: list[tuple[str, int]], *, title: str) -> Markup:
    """Centred bars narrowing step by step; each says its count and its share of the first."""
    if not steps:
        return _empty("funnel", title)
    counts = [max(_num(c), 0) for _, c in steps]
    first, top = counts[0], max(counts) or 1
    row_h, bar_h = 44, 18
    parts = []
    for i, ((label, _), count) in enumerate(zip(steps, counts)):
        y = i * row_h
        width = max(count / top * WIDTH, 1 if count else 0)
        share = f" ({count / first:.0%})" if first and i else ""
        text = f"{_short(label)}: {format_value(count)}{share}"
        parts.append(
            f'<g class="chart-row">{_tip(f"{label}: {format_value(count)}{share}")}'
            f'<text class="chart-label" x="{WIDTH // 2}" y="{y + FONT}" text-anchor="middle">{escape(text)}</text>'
            f'<rect class="chart-funnel-step series-{i % SERIES_CLASSES}" x="{_f((WIDTH - width) / 2)}" y="{y + 19}" '
            f'width="{_f(width)}" height="{bar_h}" rx="2"/></g>')
    return _svg("funnel", title, WIDTH, len(steps) * row_h + 2, "".join(parts))


def _nice_top(value: float) -> float:
    """The smallest 1, 2 or 5 × 10ⁿ at or above ``value`` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _axes(labels: list[str], series: list[tuple[str, list[float]]], unit: str):
    """The frame shared by column and line charts: (parts, x of each label's centre, y of a
    value, group width, top of the plot, height of the whole picture)."""
    legend_h = 20 if len(series) > 1 else 0
    left, top, plot_h = 52, 8 + legend_h, 150
    bottom = top + plot_h
    values = [_num(v) for _, vs in series for v in vs]
    low = min(min(values, default=0), 0)
    high = _nice_top(max(values, default=0))
    low = -_nice_top(-low) if low < 0 else 0
    span = high - low

    def y_of(value: float) -> float:
        return bottom - (_num(value) - low) / span * plot_h

    plot_w = WIDTH - left - 4
    group = plot_w / max(len(labels), 1)
    parts = []
    if legend_h:
        x = left
        for i, (name, _) in enumerate(series):
            parts.append(f'<rect class="series-{i % SERIES_CLASSES}" x="{_f(x)}" y="4" width="10" height="10"/>'
                         f'<text class="chart-legend" x="{_f(x + 14)}" y="13">{escape(_short(name))}</text>')
            x += 24 + 7 * min(len(str(name)), LABEL_MAX)
    for value in sorted({low, (low + high) / 2, high, 0}):
        y = y_of(value)
        parts.append(f'<line class="chart-grid" x1="{left}" x2="{WIDTH - 4}" y1="{_f(y)}" y2="{_f(y)}"/>'
                     f'<text class="chart-axis" x="{left - 4}" y="{_f(y + 4)}" text-anchor="end">'
                     f'{escape(format_value(value, unit if unit == "%" else ""))}</text>')
    every = max(1, math.ceil(len(labels) / 8))
    centres = [left + group * (i + 0.5) for i in range(len(labels))]
    for i, (label, x) in enumerate(zip(labels, centres)):
        if i % every == 0:
            parts.append(f'<text class="chart-axis" x="{_f(x)}" y="{bottom + 16}" text-anchor="middle">'
                         f'{escape(_short(label)[:14])}</text>')
    return parts, centres, y_of, group, bottom, bottom + 24


def column_chart(labels: list[str], series: list[tuple[str, list[float]]], *, title: str, unit: str = "") -> Markup:
    """Vertical columns: one group per label, one column per series in it."""
    if not labels or not series:
        return _empty("column", title)
    parts, centres, y_of, group, bottom, height = _axes(labels, series, unit)
    width = group * 0.8 / len(series)
    zero = y_of(0)
    for s, (name, values) in enumerate(series):
        for i, (label, x) in enumerate(zip(labels, centres)):
            value = _num(values[i]) if i < len(values) else 0.0
            y = y_of(value)
            left = x - group * 0.4 + s * width
            parts.append(f'<rect class="chart-column series-{s % SERIES_CLASSES}" x="{_f(left)}" y="{_f(min(y, zero))}" '
                         f'width="{_f(max(width - 1, 1))}" height="{_f(abs(zero - y))}">'
                         f'{_tip(f"{name}, {label}: {format_value(value, unit)}")}</rect>')
    return _svg("column", title, WIDTH, int(height), "".join(parts))


def line_chart(labels: list[str], series: list[tuple[str, list[float]]], *, title: str, unit: str = "") -> Markup:
    """One line per series across the labels, with a dot (and its hover text) at each point."""
    if not labels or not series:
        return _empty("line", title)
    parts, centres, y_of, _, _, height = _axes(labels, series, unit)
    for s, (name, values) in enumerate(series):
        points = [(x, y_of(values[i] if i < len(values) else 0)) for i, x in enumerate(centres)]
        cls = f"series-{s % SERIES_CLASSES}"
        parts.append(f'<polyline class="chart-line {cls}" points="{" ".join(f"{_f(x)},{_f(y)}" for x, y in points)}"/>')
        for i, (x, y) in enumerate(points):
            value = _num(values[i]) if i < len(values) else 0.0
            parts.append(f'<circle class="chart-dot {cls}" cx="{_f(x)}" cy="{_f(y)}" r="3">'
                         f'{_tip(f"{name}, {labels[i]}: {format_value(value, unit)}")}</circle>')
    return _svg("line", title, WIDTH, int(height), "".join(parts))

