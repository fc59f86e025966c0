"""The fast paths of a large import: the cleaning thread, the driver-level inserts, the
precompiled phone check and the one audit entry per import."""

from __future__ import annotations

import random
from datetime import date, timedelta

import phonenumbers
import pytest
from sqlalchemy import func, select

from leadflow.activities.models import Activity
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.imports import planner, runner
from leadflow.imports.rows import us_number_is_valid
from leadflow.leads.models import Lead
from leadflow.pipeline.models import StageChange

from .test_import import assert_totals_exact, live_leads, problem_rows


def test_the_precompiled_us_check_agrees_with_phonenumbers():
    rng = random.Random(7)
    numbers = [str(rng.randint(2_000_000_000, 9_999_999_999)) for _ in range(20_000)]
    numbers += ["2125550101", "4155550199", "8005550100", "9005550100", "5555550100", "2121234567"]
    for digits in numbers:
        expected = phonenumbers.is_valid_number_for_region(
            phonenumbers.PhoneNumber(country_code=1, national_number=int(digits)), "US")
        assert us_number_is_valid(digits) == expected, digits
    assert not us_number_is_valid("212555010")  # nine digits


def test_bulk_written_leads_read_back_as_the_lead_form_would_save_them(run_import):
    before = utcnow()
    job = run_import("Name,Email,Expected close date,Industry,Phone\n"
                     "Ada Lovelace,ada@example.com,2031-04-05,Engines,212 555 0101\n"
                     "Alan Turing,alan@example.com,,,\n")
    assert job.created_count == 2
    ada, alan = live_leads()
    assert ada.expected_close_date == date(2031, 4, 5) and alan.expected_close_date is None
    assert ada.custom_fields == {"Industry": "Engines"} and alan.custom_fields is None
    assert ada.phone == "+12125550101"
    assert before - timedelta(seconds=1) <= ada.created_at <= utcnow() and ada.created_at.tzinfo is not None
    assert ada.updated_at == ada.created_at == ada.stage_entered_at
    assert (ada.temperature, ada.score, ada.version, ada.marketing_consent) == ("cold", 0, 1, False)
    # Later rows sit higher on the board, as if created one after another.
    assert alan.board_rank < ada.board_rank


@pytest.mark.parametrize("read_back", [False, True], ids=["ids-counted", "ids-read-back"])
def test_tags_notes_and_history_land_on_their_own_lead(run_import, monkeypatch, read_back):
    """Each row's tag, note, timeline entry and stage history go to the lead made from that
    row, whether the new ids are counted on (SQLite) or read back (other databases)."""
    monkeypatch.setattr(runner, "CHUNK_ROWS", 3)
    if read_back:
        real_new_ids = runner.ChunkWriter._new_ids

        def as_on_other_databases(self, raw, prepared, last_id):
            sqlite, raw.sqlite = raw.sqlite, False
            try:
                return real_new_ids(self, raw, prepared, last_id)
            finally:
                raw.sqlite = sqlite

        monkeypatch.setattr(runner.ChunkWriter, "_new_ids", as_on_other_databases)
    rows = "".join(f"Person {i},p{i}@example.com,tag-{i},note {i}\n" for i in range(8))
    job = run_import("Name,Email,Tags,Notes\n" + rows, mapping=["full_name", "email", "tags", "notes"])
    assert job.created_count == 8
    for lead in live_leads():
        n = lead.email[1:].split("@")[0]
        assert [t.name for t in lead.tags] == [f"tag-{n}"]
        notes = db.session.scalars(select(Activity.body).where(Activity.lead_id == lead.id,
                                                               Activity.kind == "note")).all()
        assert notes == [f"note {n}"]
        assert db.session.scalar(select(func.count()).select_from(StageChange)
                                 .where(StageChange.lead_id == lead.id)) == 1


def test_one_audit_entry_records_the_whole_import(run_import, importer):
    job = run_import("Name,Email\nAda Lovelace,ada@example.com\nAlan Turing,alan@example.com\nNo Email,\n")
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "import_job")
                                 .order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor_id, e.entity_id) for e in entries] == [
        ("create", importer.id, job.id), ("finish", importer.id, job.id)]
    assert entries[1].new_value == "leads.csv: 2 created, 0 updated, 0 skipped, 1 failed"
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.entity_type == "lead")) == 0
    # The timeline still says where each lead came from.
    subjects = db.session.scalars(select(Activity.subject).where(Activity.kind == "system")).all()
    assert subjects == ["Lead created (imported from leads.csv)"] * 2


def test_duplicates_are_found_across_chunks(run_import, monkeypatch):
    monkeypatch.setattr(runner, "CHUNK_ROWS", 2)
    job = run_import("Name,Email,Phone\nAda One,ada@example.com,\nBob One,,+14155550100\nCy One,cy@example.com,\n"
                     "Ada Two,ADA@example.com,\nDee One,dee@example.com,\nBob Two,,(415) 555-0100\n")
    assert (job.created_count, job.skipped_count, job.rows_done) == (4, 2, 6)
    rows = problem_rows(job)
    assert rows[5] == ("skipped", "Same email as row 2 of this file.")
    assert rows[7] == ("skipped", "Same phone as row 3 of this file.")
    assert db.session.scalar(select(func.count()).select_from(StageChange)) == 4
    assert_totals_exact()


def test_cells_with_tabs_line_breaks_and_backslashes_arrive_as_written(run_import):
    # On PostgreSQL the rows travel through COPY, whose text format gives these characters a meaning.
    note = "Line one\\N\nline\ttwo \\ end"
    job = run_import('Name,Email,Industry,Notes\nAda O\\Brien,ada@example.com,"Tabs\there \\N",' f'"{note}"\n',
                     mapping=["full_name", "email", "custom", "notes"])
    assert job.created_count == 1
    (ada,) = live_leads()
    assert ada.last_name == "O\\Brien"
    assert ada.custom_fields == {"Industry": "Tabs\there \\N"}
    assert db.session.scalar(select(Activity.body).where(Activity.lead_id == ada.id, Activity.kind == "note")) == note


def test_duplicates_are_found_among_more_values_than_one_look_up_asks_for(run_import, monkeypatch, make_lead):
    # SQLite asks LOOKUP_BATCH values at a time; PostgreSQL asks for the whole chunk at once.
    monkeypatch.setattr(planner, "LOOKUP_BATCH", 2)
    first = make_lead(email="cy@example.com")
    second = make_lead(email="eve@example.com", phone="+14155550111")
    db.session.commit()
    job = run_import("Name,Email,Phone\nAda One,ada@example.com,\nBob One,bob@example.com,\nCy One,CY@example.com,\n"
                     "Dee One,dee@example.com,\nEve One,,(415) 555-0111\n")
    assert (job.created_count, job.skipped_count) == (3, 2)
    rows = problem_rows(job)
    assert rows[4] == ("skipped", f"Same email as an existing lead (#{first.id}).")
    assert rows[6] == ("skipped", f"Same phone as an existing lead (#{second.id}).")


def test_new_leads_take_consecutive_ids_in_file_order(run_import, monkeypatch, make_lead):
    """The rows go in as the file lists them and take their ids from the lead table alone
    (PostgreSQL copies them through a table of their own first, which must not number them)."""
    monkeypatch.setattr(runner, "CHUNK_ROWS", 2)
    job = run_import("Name,Email\n" + "".join(f"Person {i},p{i}@example.com\n" for i in range(5)))
    assert job.created_count == 5
    leads = live_leads()
    assert [lead.email for lead in leads] == [f"p{i}@example.com" for i in range(5)]
    assert [lead.id for lead in leads] == list(range(leads[0].id, leads[0].id + 5))
    assert make_lead().id == leads[-1].id + 1


def test_imported_values_count_in_their_own_currency_on_the_board(run_import, monkeypatch):
    monkeypatch.setattr(runner, "CHUNK_ROWS", 2)
    job = run_import("Name,Email,Value,Currency\nAda One,ada@example.com,400,EUR\nBob One,bob@example.com,100,\n"
                     "Cy One,cy@example.com,,GBP\nDee One,dee@example.com,250.50,EUR\n")
    assert job.created_count == 4
    assert_totals_exact()  # per stage and per currency, counted again from the leads


def test_a_failed_write_keeps_earlier_chunks_and_nothing_of_its_own(run_import, monkeypatch):
    monkeypatch.setattr(runner, "CHUNK_ROWS", 2)
    real_insert = runner.ChunkWriter._insert
    calls = {"n": 0}

    def fail_second_chunk(self, *args):
        calls["n"] += 1
        result = real_insert(self, *args)  # the leads are written, then the database fails
        if calls["n"] == 2:
            raise RuntimeError("disk I/O error")
        return result

    monkeypatch.setattr(runner.ChunkWriter, "_insert", fail_second_chunk)
    job = run_import("Name,Email\n" + "".join(f"Person {i},p{i}@example.com\n" for i in range(5)))
    assert job.status == "failed" and "unexpected error (RuntimeError)" in job.error
    assert (job.rows_done, job.created_count) == (2, 2)
    assert [l.email for l in live_leads()] == ["p0@example.com", "p1@example.com"]
    assert db.session.scalar(select(func.count()).select_from(Activity)) == 2
    assert db.session.scalar(select(func.count(Lead.id)).where(Lead.import_job_id == job.id)) == 2
    assert_totals_exact()


def test_whole_amounts_take_the_fast_path_with_the_same_result():
    # The fast path (plain digits) against the importer's full reading of amounts
    # (``formats.parse_amount`` with the file's decimal separator).
    from leadflow.imports.formats import AmountError, parse_amount
    from leadflow.imports.rows import RowCleaner

    for separator in (".", ","):
        cleaner = RowCleaner(["Name", "Email", "Deal Value"], ["full_name", "email", "value"], region="US",
                             default_currency="USD", decimal_separator=separator)
        for raw in ("0", "007", "12500", "9999999999", "10000000000", "12,500.50", "12.500,50", "١٢", "-5",
                    "$300"):
            values, problems = cleaner.clean(["Ada Lovelace", "ada@example.com", raw])
            try:
                expected, _ = parse_amount(raw, separator)
            except AmountError as exc:
                assert [(p.code, p.message, p.fatal) for p in problems] == [
                    ("value:invalid", f"Deal value: {exc}", False)]
                assert "value_cents" not in values  # an optional cell: left out, the row still imports
            else:
                assert (values["value_cents"], problems) == (expected, [])


def test_on_postgresql_a_chunk_writes_its_leads_tags_and_history_in_one_statement(run_import, monkeypatch,
                                                                                   count_queries):
    """A chunk's new leads, their tags, "Lead created" entries, stage and lifecycle history are
    one statement on PostgreSQL (the import's speed there is the number of passes over the
    chunk), and still land on their own leads."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("runs when the tests use PostgreSQL (DATABASE_URL), as .ci/run does")
    monkeypatch.setattr(runner, "CHUNK_ROWS", 2)
    rows = "".join(f"Person {i},p{i}@example.com,tag-{i}\n" for i in range(4))
    with count_queries() as statements:
        job = run_import("Name,Email,Tags\n" + rows, mapping=["full_name", "email", "tags"])
    assert job.created_count == 4
    writes = [s for s in statements if any(f"INSERT INTO {table} " in s for table in (
        "leads", "activities", "stage_changes", "lifecycle_changes", "lead_tags"))]
    assert len(writes) == 2  # one a chunk
    for lead in live_leads():
        number = lead.email.split("@")[0][1:]
        assert [t.name for t in lead.tags] == [f"tag-{number}"]
        assert db.session.scalar(select(func.count()).where(StageChange.lead_id == lead.id)) == 1
        assert db.session.scalar(select(func.count()).where(Activity.lead_id == lead.id,
                                                            Activity.kind == "system")) == 1


@pytest.mark.parametrize("email", ["o'brien@example.com", "{x}@example.com", "null@example.com"])
def test_a_row_repeating_a_lead_whose_email_has_punctuation_is_a_duplicate(run_import, make_lead, email):
    """The duplicate look-up sends a chunk's e-mails as one array on PostgreSQL: a quote, braces
    and a NULL-looking address still find the lead that has them."""
    lead = make_lead(email=email)
    job = run_import(f"Name,Email\nSomeone,{email}\n", mapping=["full_name", "email"])
    assert (job.created_count, job.skipped_count) == (0, 1)
    [(outcome, message)] = problem_rows(job).values()
    assert outcome == "skipped" and f"#{lead.id}" in message
