"""A report's table as a CSV download: UTF-8 with the byte-order mark spreadsheets want,
every text cell that would start a formula made text (``leadflow.imports.export.neutralise``,
as the lead export does); numbers stay numbers, a negative one too."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

from flask import Response

from leadflow.imports.export import CsvBuffer, neutralise


def safe_filename(filename: str) -> str:
    """Letters, digits, dots, dashes and underscores only (it goes into a header)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", filename).strip("-.")
    return cleaned or "report.csv"


def _cell(value) -> str:
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return str(value)
    return neutralise(value)


def csv_line(cells, bom: bool = False) -> str:
    """One CSV line; with ``bom``, the UTF-8 byte-order mark first (the header)."""
    out = CsvBuffer()
    out.writer.writerow([_cell(c) for c in cells])
    return ("\ufeff" if bom else "") + out.take()


def csv_response(filename: str, header: list[str], rows: Iterable) -> Response:
    """``header`` then each row of ``rows`` as CSV, as an attachment named ``filename`` (a
    report's rows are aggregates, few enough to answer in one piece)."""
    body = csv_line(header, bom=True) + "".join(csv_line(row) for row in rows)
    response = Response(body, mimetype="text/csv")
    response.charset = "utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{safe_filename(filename)}"'
    return response
