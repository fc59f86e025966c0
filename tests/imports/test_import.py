"""Running imports: validation, duplicates, broken rows, undo, resume after a crash, totals."""

from __future__ import annotations

import csv
import io
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from leadflow.activities.models import Activity
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.imports import runner, services
from leadflow.imports.models import ImportJob, ImportRow
from leadflow.imports.queries import failed_rows_csv
from leadflow.jobs import leases
from leadflow.jobs import runner as jobs
from leadflow.jobs.runner import run_due_jobs
from leadflow.leads.models import Lead, LifecycleChange
from leadflow.pipeline.models import StageChange, StageCurrencyTotals, StageTotals
from leadflow.pipeline.totals import live_currency_totals_query, live_totals_query

HEADER = "First Name,Last Name,Email,Phone,Company Name,Deal Value,Tags,Notes\n"


def live_leads():
    return db.session.scalars(select(Lead).where(Lead.deleted_at.is_(None)).order_by(Lead.id)).all()


def assert_totals_exact():
    db.session.expire_all()
    kept = {s: (c, v) for s, c, v in db.session.execute(
        select(StageTotals.stage_id, StageTotals.lead_count, StageTotals.value_cents)) if c or v}
    actual = {s: (c, int(v)) for s, c, v in db.session.execute(live_totals_query())}
    assert kept == actual
    kept = {(s, cur): (c, n, v) for s, cur, c, n, v in db.session.execute(
        select(StageCurrencyTotals.stage_id, StageCurrencyTotals.currency, StageCurrencyTotals.lead_count,
               StageCurrencyTotals.value_count, StageCurrencyTotals.value_cents)) if c or n or v}
    actual = {(s, cur): (c, n, int(v)) for s, cur, c, n, v in db.session.execute(live_currency_totals_query())}
    assert kept == actual


def problem_rows(job):
    return {r.row_number: (r.outcome, r.message) for r in db.session.scalars(
        select(ImportRow).where(ImportRow.job_id == job.id, ImportRow.outcome != "updated"))}


def test_rows_become_leads_with_every_derived_field(run_import, importer):
    job = run_import(HEADER + "Ada,Lovelace,Ada@Example.COM,(415) 555-0101,Analytical Engines,\"12,500.50\","
                     "\"math, history\",Met at the conference\n")
    assert (job.status, job.created_count, job.failed_count) == ("done", 1, 0)
    lead = live_leads()[0]
    assert lead.email == "Ada@example.com" and lead.email_key == "ada@example.com"
    assert lead.phone == "+14155550101"
    assert lead.organization.name == "Analytical Engines"
    assert lead.value_cents == 1250050
    assert [t.name for t in lead.tags] == ["history", "math"]
    assert lead.search_text == "ada lovelace ada@example.com analytical engines +14155550101 14155550101"
    assert lead.stage is not None and lead.stage_entered_at is not None and lead.lifecycle == "lead"
    assert lead.board_rank < 0 and lead.import_job_id == job.id
    kinds = sorted((a.kind, a.body) for a in db.session.scalars(select(Activity).where(Activity.lead_id == lead.id)))
    assert kinds == [("note", "Met at the conference"), ("system", None)]
    assert db.session.scalar(select(func.count()).select_from(StageChange).where(StageChange.lead_id == lead.id)) == 1
    assert db.session.execute(select(LifecycleChange.from_lifecycle, LifecycleChange.to_lifecycle)
                              .where(LifecycleChange.lead_id == lead.id)).all() == [(None, "lead")]
    assert_totals_exact()


def test_preview_shows_rows_as_saved_with_their_problems(new_job, importer, make_lead):
    make_lead(email="taken@example.com")
    db.session.commit()
    job = new_job(HEADER + "Ada,Lovelace,ada@example.com,,,,,\n"
                  ",,nobody@example.com,,,,,\n"
                  "Bob,Bad,bob@@example,,,,,\n"
                  "Tom,Taken,TAKEN@example.com,,,,,\n"
                  "Val,Ue,val@example.com,,,lots,,\n")
    plans = services.preview(job)
    # A bad deal value is an optional cell: the row becomes a lead without it, with a warning.
    assert [(p.number, p.action) for p in plans] == [(2, "create"), (3, "fail"), (4, "fail"), (5, "skip"),
                                                     (6, "create")]
    assert plans[0].values["first_name"] == "Ada"
    assert "no name" in plans[1].message
    assert "not a valid email address" in plans[2].message
    assert "existing lead" in plans[3].message
    assert "value_cents" not in plans[4].values
    assert plans[4].warning_message == (
        "Imported; deal value ‘lots’ could not be read and was left out (“lots” is not an amount we can read. "
        "Enter an amount such as 1,234.56 or 1234.5 (this file has a decimal point; thousands in groups of three, "
        "at most two decimals)).")
    assert services.preview(job, "update")[3].action == "update"
    assert db.session.scalar(select(func.count(Lead.id))) == 1  # the preview saves nothing


@pytest.mark.parametrize("policy, created, updated, skipped", [
    ("skip", 1, 0, 1), ("update", 1, 1, 0), ("create", 1, 0, 1)])
def test_duplicate_policies(run_import, make_lead, policy, created, updated, skipped):
    existing = make_lead(first_name="Grace", last_name="Hopper", email="grace@example.com", title="Rear Admiral")
    db.session.commit()
    job = run_import("Name,Email,Job Title\nGrace Hopper,GRACE@example.com,Commodore\nAlan Turing,alan@example.com,\n",
                     policy=policy)
    assert (job.created_count, job.updated_count, job.skipped_count) == (created, updated, skipped)
    db.session.refresh(existing)
    assert existing.title == ("Commodore" if policy == "update" else "Rear Admiral")
    # "Create anyway" cannot give a live lead's email to a second lead either (see the next test).
    assert db.session.scalar(select(func.count(Lead.id)).where(Lead.email_key == "grace@example.com")) == 1


def test_create_anyway_skips_rows_with_a_taken_email_and_says_why(run_import, make_lead):
    """Phones and names may repeat, emails may not: each refused row says which lead or row has it."""
    existing = make_lead(first_name="Grace", email="grace@example.com", phone="+14155550111")
    db.session.commit()
    job = run_import(HEADER + "Grace,Again,GRACE@example.com,,,,,\n"
                     "Tom,Switchboard,tom@example.com,(415) 555-0111,,,,\n"
                     "Tim,Twice,tom@EXAMPLE.com,,,,,\n", policy="create")
    assert (job.created_count, job.skipped_count) == (1, 2)
    problems = problem_rows(job)
    assert problems[2] == ("skipped", f"Lead #{existing.id} already has this email: an email belongs to one lead, "
                           "so no second lead was created. Import with “Update the existing lead” to add the row to it.")
    assert problems[4] == ("skipped", "Same email as row 3 of this file: an email belongs to one lead, "
                           "so no second lead was created.")
    assert [lead.first_name for lead in live_leads()] == ["Grace", "Tom"]  # Tom shares Grace's phone
    assert_totals_exact()


def test_a_row_whose_email_a_lead_got_during_the_import_is_skipped_not_lost(run_import, make_lead, monkeypatch):
    """The planner looked before another writer added the lead: the database's unique index
    refuses the row, and the import reports it instead of failing or doubling the lead."""
    from leadflow.imports import planner

    existing = make_lead(first_name="Grace", email="grace@example.com")
    db.session.commit()
    monkeypatch.setattr(planner, "_matches", lambda column, values: {})  # as if it was not there yet
    job = run_import(HEADER + "Grace,Racing,grace@example.com,,,100,vip,A note\nAlan,Turing,alan@example.com,,,,,\n",
                     policy="skip")
    assert (job.status, job.created_count, job.skipped_count) == ("done", 1, 1)
    assert problem_rows(job)[2] == ("skipped", f"Lead #{existing.id} already has this email (it was added while "
                                    "the import ran): an email belongs to one lead, so no second lead was created.")
    assert [lead.first_name for lead in live_leads()] == ["Grace", "Alan"]
    assert db.session.scalar(select(func.count(Activity.id)).where(Activity.kind == "note")) == 0
    assert_totals_exact()


def test_phone_duplicates_match_in_e164(run_import, make_lead):
    make_lead(first_name="Old", email=None, phone="+1 415 555 0199")
    db.session.commit()
    job = run_import("Name,Phone\nNew Person,(415) 555-0199\n")
    assert (job.created_count, job.skipped_count) == (0, 1)
    assert "Same phone" in problem_rows(job)[2][1]


@pytest.mark.parametrize("policy", ["skip", "update"])
def test_duplicates_within_the_file_keep_the_first_row(run_import, policy):
    job = run_import("Name,Email,Phone\nAda One,ada@example.com,\nAda Two,ADA@example.com,\n"
                     "Bob One,,+14155550100\nBob Two,,(415) 555-0100\n", policy=policy)
    assert (job.created_count, job.skipped_count) == (2, 2)
    assert sorted(l.first_name for l in live_leads()) == ["Ada", "Bob"]
    rows = problem_rows(job)
    assert rows[3] == ("skipped", "Same email as row 2 of this file.")
    assert rows[5] == ("skipped", "Same phone as row 4 of this file.")


def test_broken_rows_fail_with_their_row_number_and_the_rest_import(run_import):
    huge = "x" * 20_000
    job = run_import("Name,Email,Expected close date\n"
                     "Good One,good@example.com,2025-03-01\n"
                     "Too,Many,cells,here\n"
                     "Short\n"
                     "Bad Email,not-an-email,\n"
                     "Bad Date,date@example.com,31/02/2025\n"
                     f"Huge Cell,huge@example.com,{huge}\n"
                     "Good Two,two@example.com,\n")
    # The bad date is an optional cell: that row is imported without it, with a warning.
    assert (job.created_count, job.failed_count, job.warned_count) == (3, 4, 1)
    rows = problem_rows(job)
    assert "4 cells; the header has 3" in rows[3][1]
    assert "1 cells; the header has 3" in rows[4][1]
    assert "not a valid email address" in rows[5][1]
    assert rows[6] == ("warned", "Imported; expected close date ‘31/02/2025’ could not be read and was left out "
                                 "(“31/02/2025” is not a date we can read: it does not match YYYY-MM-DD).")
    assert "longer than 10,000 characters" in rows[7][1]
    assert {l.email for l in live_leads()} == {"good@example.com", "date@example.com", "two@example.com"}
    assert db.session.scalar(select(Lead.expected_close_date).where(Lead.email == "date@example.com")) is None


def test_cell_beyond_the_csv_field_limit_fails_only_its_row(run_import):
    job = run_import("Name,Email\nBig,\"" + "y" * 200_000 + "\"\nFine Person,fine@example.com\n")
    assert (job.created_count, job.failed_count) == (1, 1)


def test_failed_rows_download_has_the_original_columns_and_the_reason(run_import):
    job = run_import("Name,Email\nGood Person,good@example.com\nBad Person,bad@\n=cmd(),x@example.com,extra\n")
    rows = [["Name", "Email", "Import error"]] + list(csv.reader(io.StringIO("".join(failed_rows_csv(job.id)))))
    assert rows[1][:2] == ["Bad Person", "bad@"] and rows[1][2].startswith("Row 3: Email:")
    assert rows[2][0] == "'=cmd()" and rows[2][2].startswith("Row 4: The row has 3 cells")


def test_formula_cells_are_stored_as_plain_text(run_import):
    run_import("Name,Email,Job Title\n=HYPERLINK(\"http://x\"),formula@example.com,+SUM(A1)\n")
    lead = live_leads()[0]
    assert lead.first_name == "=HYPERLINK(\"http://x\")" and lead.title == "+SUM(A1)"


def test_owner_stage_lifecycle_source_and_custom_fields_are_resolved(run_import, make_user):
    from leadflow.leads.services import default_stage

    rep = make_user(role="rep", email="rep@example.com", name="Rita Rep")
    db.session.commit()
    job = run_import("Name,Email,Lead Owner,Stage,Lifecycle Stage,Lead Source,Industry,Country\n"
                     "Ann Alpha,ann@example.com,REP@example.com,Qualified,Marketing Qualified Lead,Trade Show,Retail,Germany\n"
                     "Bea Beta,bea@example.com,Rita Rep,Won,Open,Web,,gb\n"
                     "Cy Gamma,cy@example.com,ghost@example.com,Nowhere,Weird,,,Atlantis\n")
    # Cy's unknown owner, stage, lifecycle and country are optional cells: left out, with warnings.
    assert (job.created_count, job.failed_count, job.warned_count) == (3, 0, 1)
    ann, bea, cy = live_leads()
    assert ann.owner_id == rep.id and ann.stage.name == "Qualified" and ann.lifecycle == "mql"
    assert ann.source == "event" and ann.custom_fields == {"Industry": "Retail"} and ann.country == "DE"
    assert bea.owner_id == rep.id and bea.stage.name == "Won" and bea.lifecycle == "customer" and bea.source == "website"
    assert bea.custom_fields is None and bea.country == "GB"
    assert (cy.owner_id, cy.lifecycle, cy.country) == (None, "lead", None)
    assert cy.stage_id == default_stage().id
    assert problem_rows(job)[4] == ("warned", "Imported; country ‘Atlantis’ is not a country we know and was left "
                                    "out; lifecycle stage ‘Weird’ is not a lifecycle stage and was left out; owner "
                                    "‘ghost@example.com’ is not an active user and was left out; pipeline stage "
                                    "‘Nowhere’ is not a stage of any pipeline and was left out.")


def test_a_hubspot_lead_status_is_kept_as_a_custom_field_not_read_as_a_lifecycle(run_import):
    job = run_import("First Name,Last Name,Email,Lifecycle Stage,Lead Status\n"
                     "Ann,Alpha,ann@example.com,Lead,ATTEMPTED_TO_CONTACT\n"
                     "Bea,Beta,bea@example.com,Marketing Qualified Lead,UNQUALIFIED\n"
                     "Cy,Gamma,cy@example.com,,OPEN_DEAL\n")
    assert (job.created_count, job.failed_count) == (3, 0)
    ann, bea, cy = live_leads()
    assert [ann.lifecycle, bea.lifecycle, cy.lifecycle] == ["lead", "mql", "lead"]
    assert [lead.custom_fields for lead in (ann, bea, cy)] == [
        {"Lead Status": "ATTEMPTED_TO_CONTACT"}, {"Lead Status": "UNQUALIFIED"}, {"Lead Status": "OPEN_DEAL"}]


def test_update_policy_keeps_values_the_file_leaves_empty(run_import, make_lead):
    lead = make_lead(first_name="Grace", last_name="Hopper", email="grace@example.com", title="Admiral",
                     organization="Navy")
    db.session.commit()
    job = run_import("Name,Email,Job Title,Company Name\nGrace Hopper,grace@example.com,,Univac\n", policy="update")
    assert job.updated_count == 1
    db.session.refresh(lead)
    assert lead.title == "Admiral" and lead.organization.name == "Univac"


def test_undo_trashes_created_leads_and_restores_updated_ones(run_import, importer, make_lead):
    kept = make_lead(first_name="Grace", last_name="Hopper", email="grace@example.com", title="Admiral",
                     value="1000", tags="navy")
    db.session.commit()
    job = run_import("Name,Email,Job Title,Deal Value,Tags\nGrace Hopper,grace@example.com,Commodore,5000,cobol\n"
                     "Alan Turing,alan@example.com,,250,\nKatherine Johnson,kj@example.com,,750,\n", policy="update")
    assert (job.created_count, job.updated_count) == (2, 1)
    db.session.refresh(kept)
    assert (kept.title, kept.value_cents, [t.name for t in kept.tags]) == ("Commodore", 500000, ["cobol"])
    assert_totals_exact()

    services.start_undo(importer, job)
    db.session.commit()
    runner.run_job(job.id)
    db.session.expire_all()
    assert job.status == "undone" and job.undo_done == 3
    assert [l.id for l in live_leads()] == [kept.id]
    trashed = db.session.scalars(select(Lead).where(Lead.import_job_id == job.id)).all()
    assert len(trashed) == 2 and all(l.deleted_at is not None for l in trashed)
    assert (kept.title, kept.value_cents, [t.name for t in kept.tags]) == ("Admiral", 100000, ["navy"])
    assert_totals_exact()


def test_undo_keeps_a_field_someone_changed_after_the_import(run_import, importer, make_lead):
    from leadflow.leads.services import update_lead

    lead = make_lead(first_name="Grace", last_name="Hopper", email="grace@example.com", title="Admiral")
    db.session.commit()
    job = run_import("Name,Email,Job Title,Country\nGrace Hopper,grace@example.com,Commodore,US\n", policy="update")
    update_lead(importer, db.session.get(Lead, lead.id), {"title": "Professor"})
    services.start_undo(importer, job)
    db.session.commit()
    runner.run_job(job.id)
    db.session.expire_all()
    assert (lead.title, lead.country) == ("Professor", None)


def test_an_import_that_created_nothing_cannot_be_undone(run_import, importer, make_lead):
    from leadflow.errors import ValidationFailed

    make_lead(first_name="Ada", email="ada@example.com")
    db.session.commit()
    job = run_import("Name,Email\nBad,nope\nAda,ada@example.com\n")
    assert (job.created_count, job.failed_count, job.skipped_count) == (0, 1, 1)
    with pytest.raises(ValidationFailed):
        services.start_undo(importer, job)


class Crash(BaseException):
    """The process dying mid-import: nothing catches it, the lease is left behind."""


def die_while_writing_the_third_chunk(job, monkeypatch) -> None:
    """Run the import as "dead-worker", which dies (``Crash``) as it starts writing the
    third chunk, after committing two."""
    real_write = runner.ChunkWriter.write
    calls = {"n": 0}

    def crash_on_third_chunk(self, plans, actor):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash()
        return real_write(self, plans, actor)

    with monkeypatch.context() as patch:
        patch.setattr(runner.ChunkWriter, "write", crash_on_third_chunk)
        with pytest.raises(Crash):
            runner.run_job(job.id, worker="dead-worker")


def test_a_crashed_import_is_resumed_by_the_sweep_without_duplicating_rows(run_import, new_job, importer, monkeypatch):
    monkeypatch.setattr(runner, "CHUNK_ROWS", 3)
    rows = "".join(f"Person {i},p{i}@example.com,{(i % 3) * 100}\n" for i in range(10))
    job = new_job("Name,Email,Deal Value\n" + rows)
    services.start_job(importer, job, "skip")
    db.session.commit()
    die_while_writing_the_third_chunk(job, monkeypatch)
    # The thread that cleaned ahead stopped with the import (it waits for nobody).
    assert not [t for t in threading.enumerate() if t.name == "import-cleaner"]
    db.session.rollback()
    db.session.expire_all()
    assert (job.status, job.rows_done, job.created_count) == ("running", 6, 6)
    assert run_due_jobs(utcnow()) == 0  # its lease has not run out, its heartbeat is fresh

    job.lease_until = utcnow() - timedelta(seconds=1)  # heartbeat still fresh, lease run out: taken over
    db.session.commit()
    assert run_due_jobs(utcnow()) == 1
    db.session.expire_all()
    assert (job.status, job.rows_done, job.created_count, job.skipped_count) == ("done", 10, 10, 0)
    emails = [l.email for l in live_leads()]
    assert sorted(emails) == sorted(f"p{i}@example.com" for i in range(10))
    assert_totals_exact()


def test_a_resumed_import_does_not_update_a_lead_twice(new_job, importer, make_lead, monkeypatch):
    """Row 2 updates an existing lead and is committed; the import dies; after the resume
    row 9, with the same email, is a duplicate of row 2, not a second update."""
    existing = make_lead(first_name="Old", email="p0@example.com", title="Intern")
    db.session.commit()
    monkeypatch.setattr(runner, "CHUNK_ROWS", 3)
    rows = ["Person 0,p0@example.com,Director"] + [f"Person {i},p{i}@example.com,Rep" for i in range(1, 7)]
    rows.append("Later Zero,p0@example.com,Chief")
    job = new_job("Name,Email,Title\n" + "\n".join(rows) + "\n")
    services.start_job(importer, job, "update")
    db.session.commit()
    die_while_writing_the_third_chunk(job, monkeypatch)
    db.session.rollback()
    job.lease_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert run_due_jobs(utcnow()) == 1
    db.session.expire_all()
    assert (job.status, job.updated_count, job.created_count, job.skipped_count) == ("done", 1, 6, 1)
    assert existing.title == "Director"  # row 2's value; row 9 did not overwrite it
    assert problem_rows(job)[9] == ("skipped", "Same email as row 2 of this file.")
    # Undo puts back what the one update changed.
    services.start_undo(importer, job)
    db.session.commit()
    runner.run_job(job.id)
    db.session.expire_all()
    assert existing.title == "Intern" and existing.first_name == "Old"


def test_a_worker_that_lost_its_lease_writes_nothing_more(run_import, new_job, importer):
    job = new_job("Name,Email\nAda,ada@example.com\n")
    services.start_job(importer, job, "skip")
    db.session.commit()
    assert jobs.claim_job(runner.KIND, job.id, "first")
    assert not jobs.claim_job(runner.KIND, job.id, "second")  # held
    with pytest.raises(leases.LeaseLost):
        leases.renew(ImportJob, job.id, "second", rows_done=ImportJob.rows_done + 1)


def test_the_stored_file_is_removed_when_the_import_ends(run_import, instance_folder):
    run_import("Name,Email\nAda,ada@example.com\n")
    assert not list((instance_folder / "imports").iterdir())


def test_viewers_and_reps_cannot_import(app, make_user):
    from leadflow.errors import PermissionDenied

    for role in ("rep", "viewer"):
        with pytest.raises(PermissionDenied):
            services.create_job(make_user(role=role), io.BytesIO(b"Name,Email\n"), "x.csv")
    assert db.session.scalar(select(func.count(ImportJob.id))) == 0
