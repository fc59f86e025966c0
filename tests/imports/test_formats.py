"""Reading a file's amounts and dates: the decimal separator and each date column's format,
detected from the cells and applied cell by cell."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from leadflow.imports.formats import (AmountError, DateError, detect_date_format, detect_decimal_separator,
                                      parse_amount, parse_date_cell, parse_moment)
from leadflow.imports.rows import RowCleaner


@pytest.mark.parametrize("cells", [["1.234,56", "2500,00", "2.500"], ["€ 12,5"], ["1.234.567", ""],
                                   ["2500,00 EUR", "100"]])
def test_comma_decimals_are_detected(cells):
    assert detect_decimal_separator(cells) == ","


@pytest.mark.parametrize("cells", [["1,234.56", "2500.00"], ["$12.5"], ["1,234,567"], ["100", "250", ""], []])
def test_point_decimals_are_detected(cells):
    assert detect_decimal_separator(cells) == "."


@pytest.mark.parametrize("cells", [["1.234", "2,500"], ["1.234"], ["2,500", "3,000"], ["2500,00", "3.50"]])
def test_amounts_that_read_both_ways_are_asked(cells):
    assert detect_decimal_separator(cells) is None


@pytest.mark.parametrize("raw, separator, cents, currency", [
    ("2500,00", ",", 250000, None), ("2.500", ",", 250000, None), ("1.234,56", ",", 123456, None),
    ("2500,00 EUR", ",", 250000, "EUR"), ("€\u00a02.500,5", ",", 250050, "EUR"), ("1 234,56", ",", 123456, None),
    ("1,234.56", ".", 123456, None), ("$1,234", ".", 123400, None), ("USD 9,999,999,999.99", ".", 999999999999, "USD"),
    ("12500", ".", 1250000, None), ("0.5", ".", 50, None), ("£7", ".", 700, "GBP"), ("1'234.50", ".", 123450, None),
])
def test_amounts_are_read_with_the_file_separator(raw, separator, cents, currency):
    assert parse_amount(raw, separator) == (cents, currency)


@pytest.mark.parametrize("raw, separator, message", [
    ("1,234", ",", "Enter an amount such as 1.234,56"), ("12.5", ",", "decimal comma"),
    ("1,234.56", ",", "decimal comma"), ("1.234,56", ".", "decimal point"), ("1234.567", ".", "at most two decimals"),
    ("12,34", ".", "thousands in groups of three"), ("lots", ".", "not an amount we can read"),
    ("-5", ".", "cannot be negative"), ("10000000000", ".", "too large"), ("12 XYZ", ".", "not an amount"),
])
def test_an_amount_that_cannot_be_read_with_certainty_is_refused(raw, separator, message):
    with pytest.raises(AmountError, match=message):
        parse_amount(raw, separator)


def test_the_cleaner_fails_the_cell_never_a_silent_hundredfold():
    cleaner = RowCleaner(["Name", "Email", "Value"], ["full_name", "email", "value"], region="US",
                         default_currency="USD", decimal_separator=",")
    values, problems = cleaner.clean(["Ada Lovelace", "ada@example.com", "2500,00"])
    assert (values["value_cents"], problems) == (250000, [])
    values, problems = cleaner.clean(["Ada Lovelace", "ada@example.com", "1,234"])
    assert "value_cents" not in values and problems[0].message.startswith("Deal value: “1,234” is not an amount")
    assert (problems[0].code, problems[0].fatal) == ("value:invalid", False)  # the cell is left out, not the row


@pytest.mark.parametrize("cells, expected", [
    (["2027-11-18", "2027-11-18T14:30:00Z", "2027-01-02 09:00:00+01:00"], "YYYY-MM-DD"),
    (["18.11.2027", "01.02.2027 14:30"], "dd.mm.yyyy"),
    (["18/11/2027", "01/02/2027 14:30"], "dd/mm/yyyy"),
    (["11/18/2027 2:30 PM", "01/02/2027"], "mm/dd/yyyy"),
    (["05/06/2027", "01/02/2027 14:30", "12/12/2027"], None),  # every day ≤ 12: asked
    (["", ""], "YYYY-MM-DD"),
])
def test_date_formats_are_detected_per_column(cells, expected):
    assert detect_date_format(cells) == expected


@pytest.mark.parametrize("raw, fmt, day, time", [
    ("2027-11-18", "YYYY-MM-DD", date(2027, 11, 18), None),
    ("2027/11/18", "YYYY-MM-DD", date(2027, 11, 18), None),
    ("2027-11-18T14:30:05.123Z", "YYYY-MM-DD", date(2027, 11, 18), (14, 30, 5)),
    ("18.11.2027", "dd.mm.yyyy", date(2027, 11, 18), None),
    ("18.11.2027 14:30", "dd.mm.yyyy", date(2027, 11, 18), (14, 30, 0)),
    ("18/11/2027 14:30:10", "dd/mm/yyyy", date(2027, 11, 18), (14, 30, 10)),
    ("11/18/2027 2:30 PM", "mm/dd/yyyy", date(2027, 11, 18), (14, 30, 0)),
    ("11/18/2027 12:05 am", "mm/dd/yyyy", date(2027, 11, 18), (0, 5, 0)),
])
def test_each_date_format_reads_with_and_without_a_time(raw, fmt, day, time):
    assert parse_date_cell(raw, fmt)[:2] == (day, time)


@pytest.mark.parametrize("raw, fmt, message", [
    ("2027-18-11", "dd.mm.yyyy", "“2027-18-11” is not a date we can read: it does not match dd.mm.yyyy."),
    ("18.11.2027", "YYYY-MM-DD", "does not match YYYY-MM-DD"),
    ("31.02.2027", "dd.mm.yyyy", "there is no such day"),
    ("13/25/2027", "mm/dd/yyyy", "there is no such day"),
    ("18.11.2027 25:00", "dd.mm.yyyy", "time we cannot read"),
])
def test_a_date_that_does_not_match_its_column_names_the_format(raw, fmt, message):
    with pytest.raises(DateError, match=message):
        parse_date_cell(raw, fmt)


def test_a_created_moment_is_in_the_importers_zone_unless_the_cell_names_one():
    berlin = ZoneInfo("Europe/Berlin")
    assert parse_moment("02.03.2024", "dd.mm.yyyy", berlin) == datetime(2024, 3, 1, 23, 0, tzinfo=UTC)
    assert parse_moment("02.07.2024 09:15", "dd.mm.yyyy", berlin) == datetime(2024, 7, 2, 7, 15, tzinfo=UTC)
    assert parse_moment("2024-07-02T09:15:00-05:00", "YYYY-MM-DD", berlin) == datetime(2024, 7, 2, 14, 15,
                                                                                        tzinfo=UTC)
    with pytest.raises(DateError, match="is in the future"):
        parse_moment("01.01.2999", "dd.mm.yyyy", berlin)


def test_the_cleaner_reads_each_date_column_with_its_format():
    cleaner = RowCleaner(["Name", "Email", "Close", "Created"],
                         ["full_name", "email", "expected_close_date", "created_at"], region="US",
                         default_currency="USD", date_formats={"2": "mm/dd/yyyy", "3": "dd.mm.yyyy"},
                         zone=ZoneInfo("America/New_York"))
    values, problems = cleaner.clean(["Ada Lovelace", "ada@example.com", "11/18/2027", "01.02.2024 10:00"])
    assert problems == []
    assert values["expected_close_date"] == date(2027, 11, 18)
    assert values["created_at"] == datetime(2024, 2, 1, 15, 0, tzinfo=UTC)
    _, problems = cleaner.clean(["Ada Lovelace", "ada@example.com", "18.11.2027", "2024-02-01"])
    assert [p.message for p in problems] == ["Expected close date: “18.11.2027” is not a date we can read: it does not match mm/dd/yyyy.",
                        "Created date (when the lead was first recorded): “2024-02-01” is not a date we can read: "
                        "it does not match dd.mm.yyyy."]
