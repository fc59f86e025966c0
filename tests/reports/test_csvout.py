"""A report's CSV: UTF-8 with BOM, formula-looking text made text (numbers stay numbers), a clean
file name."""

from __future__ import annotations

import csv
import io

from leadflow.reports.csvout import csv_response, safe_filename


def test_csv_has_a_bom_and_neutralises_formulas(app):
    with app.test_request_context():
        response = csv_response("funnel.csv", ["Stage", "Leads"],
                                [["=HYPERLINK(\"http://x\")", 3], ["+1", -2], ["-2", 1.5], ["@SUM(A1)", None],
                                 ["Plain, \"quoted\"", 4]])
        body = response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="funnel.csv"'
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))
    assert rows == [["Stage", "Leads"], ["'=HYPERLINK(\"http://x\")", "3"], ["'+1", "-2"], ["'-2", "1.5"], ["'@SUM(A1)", ""],
                    ["Plain, \"quoted\"", "4"]]


def test_file_name_keeps_only_safe_characters():
    assert safe_filename('a"b\r\nc/../d.csv') == "a-b-c-..-d.csv"
    assert safe_filename("\"\"") == "report.csv"
