"""Property: any amount the importer accepts comes back as the same amount from the lead
export. Amounts are written every way a file may write them (either decimal separator,
with or without thousands groups — by mark, space, no-break space or apostrophe —, 0–2
decimals, currency symbols or codes before or after, up to the largest value allowed)."""

from __future__ import annotations

import csv
import io
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.extensions import db
from leadflow.imports import services
from leadflow.imports.formats import MAX_UNITS, detect_decimal_separator, parse_amount
from leadflow.imports.runner import run_job

PREFIXES = ("", "$", "€", "£", "€ ", "EUR ", "USD", "CHF ")
SUFFIXES = ("", " €", " EUR", "€", " usd", " GBP")


@st.composite
def written_amounts(draw, separator: str | None = None):
    """(text as a file writes it, the decimal separator, the cents it means)."""
    separator = separator or draw(st.sampled_from((".", ",")))
    units = draw(st.one_of(st.integers(0, MAX_UNITS - 1), st.sampled_from((0, 1, 999, 1000, MAX_UNITS - 1))))
    places = draw(st.integers(0, 2))
    fraction = draw(st.integers(0, 10 ** places - 1)) if places else 0
    cents = units * 100 + (fraction * 10 if places == 1 else fraction)
    group = draw(st.sampled_from(("", "," if separator == "." else ".", " ", "\u00a0", "'")))
    digits = f"{units:,}".replace(",", group) if group else str(units)
    text = digits + (f"{separator}{fraction:0{places}d}" if places else "")
    prefix = draw(st.sampled_from(PREFIXES))
    suffix = draw(st.sampled_from(SUFFIXES)) if not prefix else ""
    return prefix + text + suffix, separator, cents


def exported_value(text: str) -> int:
    """The export writes amounts as 1234.50: read them back as the importer would."""
    return parse_amount(text, ".")[0]


@settings(max_examples=3000, deadline=None)
@given(written_amounts())
def test_every_written_amount_reads_as_its_cents_and_survives_the_export_format(case):
    from leadflow.imports.export import _value

    text, separator, cents = case
    assert parse_amount(text, separator)[0] == cents
    assert exported_value(_value(cents)) == cents
    # Detection never picks the other separator for a file of this amount.
    assert detect_decimal_separator([text]) in (separator, None, ".")
    if detect_decimal_separator([text]) == "." and separator == ",":
        assert parse_amount(text, ".")[0] == cents  # a whole amount both separators read alike


_emails = itertools.count()


@pytest.fixture
def exporter(login_as, importer):
    """The importer, signed in (once for every example of the property)."""
    return login_as(importer)[1]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(separator=st.sampled_from((".", ",")), data=st.data())
def test_imported_amounts_come_back_from_the_lead_export_unchanged(exporter, importer, separator, data):
    amounts = data.draw(st.lists(written_amounts(separator), min_size=1, max_size=40))
    rows = []
    expected = {}
    for text, _, cents in amounts:
        email = f"p{next(_emails)}@example.com"
        expected[email] = cents
        rows.append(["Pat Doe", email, text])
    out = io.StringIO()
    csv.writer(out, delimiter=";").writerows([["Name", "Email", "Deal Value"], *rows])
    job = services.create_job(importer, io.BytesIO(out.getvalue().encode("utf-8")), "amounts.csv")
    services.update_file_settings(importer, job, encoding="utf-8", delimiter=";", has_header=True,
                                  decimal_separator=separator)
    services.start_job(importer, job, "create")
    db.session.commit()
    run_job(job.id)
    db.session.expire_all()
    assert db.session.get(type(job), job.id).created_count == len(rows)

    exported = exporter.get("/leads/export.csv").get_data(as_text=True).lstrip("\ufeff")
    got = {r["Email"]: exported_value(r["Value"]) for r in csv.DictReader(io.StringIO(exported))
           if r["Email"] in expected}
    assert got == expected
