"""The SVG charts: labelled for screen readers, labels escaped, an empty chart says so."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from leadflow.reports.charts import bar_chart, column_chart, format_value, funnel_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert("x")</script> & Co'


def parse(svg: Markup) -> ET.Element:
    assert isinstance(svg, Markup)
    return ET.fromstring(str(svg))  # well-formed XML, or this fails


def texts(root: ET.Element) -> list[str]:
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


ALL = [
    lambda title, label: bar_chart([(label, 3), ("Other", 1)], title=title, unit="%"),
    lambda title, label: column_chart(["Jan", label], [("Won", [1, 2]), (label, [3, 4])], title=title),
    lambda title, label: line_chart(["Jan", label], [("Won", [1, 2]), (label, [3, 4])], title=title, unit="days"),
    lambda title, label: funnel_chart([(label, 10), ("Won", 4)], title=title),
]


@pytest.mark.parametrize("draw", ALL, ids=["bar", "column", "line", "funnel"])
def test_chart_is_an_image_named_by_its_title_with_every_label_escaped(draw):
    svg = draw(f"Title {EVIL}", EVIL)
    assert "<script>" not in str(svg)
    root = parse(svg)
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title.text == f"Title {EVIL}"
    assert root.get("aria-labelledby") == title.get("id")
    assert root.get("viewBox") and root.get("width") == "100%"
    assert "style" not in str(svg) and "<script" not in str(svg)
    assert any(EVIL[:20] in text for text in texts(root))


@pytest.mark.parametrize("empty", [
    lambda: bar_chart([], title="Nothing"), lambda: column_chart([], [], title="Nothing"),
    lambda: line_chart([], [("Won", [])], title="Nothing"), lambda: funnel_chart([], title="Nothing"),
], ids=["bar", "column", "line", "funnel"])
def test_empty_chart_says_there_is_no_data(empty):
    root = parse(empty())
    assert texts(root) == ["No data for these filters"]


def test_bar_lengths_follow_the_values():
    root = parse(bar_chart([("A", 10), ("B", 5), ("C", 0)], title="Bars"))
    widths = [float(rect.get("width")) for rect in root.iter(f"{SVG}rect")]
    assert widths[0] == 2 * widths[1] and widths[2] == 0
    assert texts(root) == ["A", "10", "B", "5", "C", "0"]


def test_funnel_says_each_steps_share_of_the_first():
    root = parse(funnel_chart([("Leads", 200), ("MQL", 50), ("Customer", 0)], title="Funnel"))
    assert texts(root) == ["Leads: 200", "MQL: 50 (25%)", "Customer: 0 (0%)"]


def test_line_chart_draws_a_point_per_label_and_copes_with_missing_and_negative_values():
    root = parse(line_chart(["a", "b", "c"], [("Net", [5, -5, None])], title="Net"))
    assert len(list(root.iter(f"{SVG}circle"))) == 3
    assert texts(root)[:3] == ["-5", "0", "5"]  # the axis reaches below zero


def test_values_read_as_numbers_with_their_unit():
    assert [format_value(1234), format_value(12.345, "%"), format_value(3.5, "days"), format_value(float("nan"))] == [
        "1,234", "12.3%", "3.5 days", "0"]
