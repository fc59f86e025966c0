"""The app's one sparkline (the home page's month figures, the reports' trends and
thumbnails): an SVG picture with its text alternative, gaps where a period has nothing."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from leadflow.web.sparkline import sparkline

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg) -> ET.Element:
    return ET.fromstring(str(svg))  # well-formed XML, or this fails


def test_sparkline_is_svg_with_its_text_alternative_and_gaps_for_empty_months():
    svg = str(sparkline([None, 1, 3, None, 2, 2], title="Won <value>", mark_last=True))
    assert svg.startswith('<svg class="sparkline" role="img"') and "<title>Won &lt;value&gt;</title>" in svg
    assert "<script" not in svg and "on" + "load" not in svg and "style=" not in svg
    # Two runs (months 2-3, 5-6) and the last point marked: a line breaks where a month has nothing.
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 1
    assert 'points="25.8,29.0 48.6,3.0"' in svg  # lowest value at the bottom, highest at the top
    flat = str(sparkline([0, 0, 0], title="Nothing"))
    assert "NaN" not in flat and flat.count("<polyline") == 1


def test_the_last_point_is_marked_only_when_asked_and_known():
    assert str(sparkline([1, 3, 2], title="Trend")).count("<circle") == 0
    assert str(sparkline([1, 3, 2], title="Trend", mark_last=True)).count("<circle") == 1
    assert str(sparkline([1, 3, None], title="Trend", mark_last=True)).count("<circle") == 0


def test_a_lone_point_between_gaps_is_a_dot_and_nothing_to_show_draws_no_line():
    root = _parse(sparkline([None, 4, None, 1, 2], title="Trend"))
    assert len(list(root.iter(f"{SVG}circle"))) == 1 and len(list(root.iter(f"{SVG}polyline"))) == 1
    for nothing in ([], [None, None], [float("nan"), "n/a"]):
        root = _parse(sparkline(nothing, title="Trend"))
        assert list(root.iter(f"{SVG}polyline")) == [] and list(root.iter(f"{SVG}circle")) == []
        assert root.find(f"{SVG}title").text == "Trend"
