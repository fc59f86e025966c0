"""One live lead per email, kept by the database: concurrent arrivals of one new address make
one lead, a second lead never gets a live lead's email (form, inline edit, restore, undo of a
merge), and the migration keeps every lead of a database that already had duplicates."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from leadflow.accounts.system import system_actor
from leadflow.activities.models import Activity
from leadflow.api.models import ApiToken
from leadflow.api.services import create_token, intake_one
from leadflow.capture import services as capture
from leadflow.errors import EmailTaken
from leadflow.extensions import db
from leadflow.leads import intake, merge, services, store
from leadflow.leads.duplicate_pairs import candidate_pairs
from leadflow.leads.models import Lead
from leadflow.pipeline.services import ensure_default_pipeline
from tests.capture.conftest import builder_data
from tests import factories
from tests.factories import make_lead_sharing_email

RACERS = 20
def _count(where=None) -> int:
    query = db.select(db.func.count(Lead.id))
    return db.session.scalar(query.where(where) if where is not None else query)


@pytest.mark.real_commits  # straight SQL on connections of its own
def test_the_database_refuses_a_second_live_lead_with_one_email(app):
    """Straight SQL, no Python check in the way: only the index stands between them."""
    with db.engine.begin() as conn:
        factories.insert_raw_lead(conn, "Ada", "ada@example.com")
        factories.insert_raw_lead(conn, "Old Ada", "ada@example.com", deleted="2020-01-01 00:00:00")
        factories.insert_raw_lead(conn, "No email 1", None)
        factories.insert_raw_lead(conn, "No email 2", None)
    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        factories.insert_raw_lead(conn, "Ada again", "ada@example.com")
    assert _count() == 4  # a trashed lead and leads without an email do not hold a key


def test_phones_may_repeat(app, make_lead):
    """A switchboard or a household: several people, one number (the duplicates queue pairs them)."""
    first = make_lead(first_name="Reception", phone="+14155550100", email=None)
    second = make_lead(first_name="Sales", phone="(415) 555-0100", email=None)
    assert first.phone == second.phone and first.id != second.id


def test_the_store_reports_which_rows_met_a_live_lead(app, make_lead):
    holder = make_lead(email="ada@example.com")
    result = store.insert_leads([
        {"first_name": "A", "email": "ADA@example.com", "email_key": "ada@example.com"},
        {"first_name": "B", "email": "bo@example.com", "email_key": "bo@example.com"},
        {"first_name": "C", "email": "BO@example.com", "email_key": "bo@example.com"},
        {"first_name": "D", "email": None, "email_key": None},
    ])
    assert result.ids[0] is None and result.taken[0] == holder.id
    assert result.ids[1] is not None and result.ids[2] is None and result.taken[2] == result.ids[1]
    assert result.ids[3] is not None and len(result.inserted) == 2


def _racing_app(make_app):
    """An app on the test database with a connection for every racer."""
    return make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_size": RACERS, "max_overflow": 5})


def _race(app, call, *, after_find_barrier: bool):
    """``call(i)`` in RACERS threads, each in an app context (a session) of its own, started
    together; returns (results, errors). On PostgreSQL every thread can be held after its
    look-up found no lead, so all of them really try to insert (SQLite has one writer at a
    time, and a thread that waits there would hold the others off)."""
    start = threading.Barrier(RACERS)
    found = threading.Barrier(RACERS, timeout=30)
    results, errors = [None] * RACERS, []
    real_find = intake.find_live_lead_by_email

    def find_then_wait(email_key):
        lead = real_find(email_key)
        found.wait()
        return lead

    def run(i):
        with app.app_context():
            try:
                start.wait()
                results[i] = call(i)
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - every failure is reported by the test
                db.session.rollback()
                errors.append(repr(exc))

    db.session.close()  # the test's own session holds no lock while they race
    if after_find_barrier:
        intake.find_live_lead_by_email = find_then_wait
    try:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(RACERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        intake.find_live_lead_by_email = real_find
    return results, errors


def _postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


@pytest.mark.real_commits  # requests in threads, each on its own connection
def test_twenty_concurrent_api_intakes_of_one_new_email_make_one_lead(app, make_app, make_user):
    user = make_user(role="rep")
    token, _ = create_token(system_actor("Test setup"), user=user, name="Racer", scopes="read,write")
    ensure_default_pipeline()
    db.session.commit()
    token_id = token.id

    def call(i):
        return intake_one(db.session.get(ApiToken, token_id),
                          {"first_name": f"Racer{i}", "email": "Race@Example.com", "title": f"Try {i}"})[0]

    outcomes, errors = _race(_racing_app(make_app), call, after_find_barrier=_postgres())
    db.session.expire_all()
    assert errors == []
    assert sorted(outcomes) == ["created"] + ["updated"] * (RACERS - 1)
    assert _count(Lead.email_key == "race@example.com") == 1
    lead = db.session.scalar(db.select(Lead).where(Lead.email_key == "race@example.com"))
    received = db.session.scalar(db.select(db.func.count(Activity.id)).where(
        Activity.lead_id == lead.id, Activity.subject == "Lead received through the API"))
    assert received == RACERS  # every call is on the lead's timeline
    assert lead.title.startswith("Try ")


@pytest.mark.real_commits  # requests in threads, each on its own connection
def test_twenty_concurrent_capture_submissions_of_one_new_email_make_one_lead(app, make_app, make_user):
    ensure_default_pipeline()
    form = capture.create_form(make_user("admin"), builder_data())
    db.session.commit()
    form_id = form.id

    def call(i):
        result = capture.submit(capture.Submission(form_id, {"first_name": f"Visitor{i}", "email": "new@example.com"},
                                                   consent=False, ip=None))
        return result.created

    created, errors = _race(_racing_app(make_app), call, after_find_barrier=_postgres())
    assert errors == []
    assert sorted(created) == [False] * (RACERS - 1) + [True]
    assert _count(Lead.email_key == "new@example.com") == 1


def test_a_lost_insert_race_updates_the_winner_instead(app, make_lead, monkeypatch):
    """Deterministically, on both databases: the look-up missed the lead another request had
    just committed; the store's insert meets it and intake updates it."""
    winner = make_lead(first_name="Winner", email="race@example.com")
    db.session.commit()
    monkeypatch.setattr(intake, "find_live_lead_by_email", lambda key: None)
    result = intake.intake_lead({"first_name": "Winner", "email": "RACE@example.com", "title": "CTO"},
                                channel="api", actor=system_actor("Racer"), activity_kind="api_submission")
    db.session.commit()
    assert not result.created and result.lead.id == winner.id and result.lead.title == "CTO"
    assert _count() == 1


def test_create_lead_refuses_a_taken_email_naming_the_lead(app, make_lead):
    holder = make_lead(email="ada@example.com")
    with pytest.raises(EmailTaken) as refused:
        make_lead(email="ADA@example.com")
    assert refused.value.lead_id == holder.id
    assert f"Lead #{holder.id} already has this email" in refused.value.errors["email"][0]


def test_restoring_a_lead_whose_email_is_taken_says_to_merge(app, make_lead, login_as):
    user, client = login_as("manager")
    old = make_lead(first_name="Old", email="ada@example.com")
    services.delete_lead(user, old)
    new = make_lead(first_name="New", email="ADA@example.com")
    db.session.commit()
    response = client.post(f"/leads/{old.id}/restore", follow_redirects=True)
    assert response.status_code == 200
    assert (f"Lead #{new.id} already has this email (ada@example.com), so Old Example cannot be restored beside it. "
            "Merge them instead") in response.text
    db.session.expire_all()
    assert db.session.get(Lead, old.id).deleted_at is not None
    services.delete_lead(user, db.session.get(Lead, new.id))  # once the holder is gone, restoring works
    services.restore_lead(user, db.session.get(Lead, old.id))
    db.session.commit()
    assert db.session.get(Lead, old.id).deleted_at is None


def test_undoing_a_merge_whose_absorbed_email_was_taken_since_says_why(app, make_lead, make_user, login_as):
    manager, client = login_as("manager")
    survivor = make_lead(actor=manager, first_name="Sur", email="sur@example.com")
    absorbed = make_lead(actor=manager, first_name="Abs", email="abs@example.com")
    record = merge.merge_leads(manager, survivor, absorbed, {})
    newcomer = make_lead(actor=manager, first_name="New", email="ABS@example.com")  # the address was free
    db.session.commit()
    response = client.post(f"/leads/merges/{record.id}/undo", follow_redirects=True)
    assert response.status_code == 200
    assert f"Lead #{newcomer.id} already has this email (abs@example.com)" in response.text
    db.session.expire_all()
    assert db.session.get(Lead, absorbed.id).deleted_at is not None
    assert db.session.get(merge.LeadMerge, record.id).undone_at is None


def test_merging_a_parked_duplicate_gives_it_the_email_and_undo_parks_it_again(app, make_lead, make_user):
    manager = make_user(role="manager")
    holder = make_lead(actor=manager, first_name="Ada", email="ada@example.com")
    parked = make_lead_sharing_email("ADA@example.com", actor=manager, first_name="Ada", last_name="L")
    db.session.commit()
    assert candidate_pairs()[0] == {tuple(sorted((holder.id, parked.id))): ["same email"]}
    record = merge.merge_leads(manager, parked, holder, {})
    db.session.commit()
    assert (parked.email_key, parked.shared_email_key) == ("ada@example.com", None)
    assert intake.find_live_lead_by_email("ada@example.com").id == parked.id
    merge.undo_merge(manager, record)
    db.session.commit()
    db.session.expire_all()
    assert (db.session.get(Lead, parked.id).email_key, db.session.get(Lead, parked.id).shared_email_key) == (
        None, "ada@example.com")
    assert db.session.get(Lead, holder.id).email_key == "ada@example.com"


def test_a_parked_duplicate_can_be_edited_but_not_given_the_key(app, make_lead, make_user):
    manager = make_user(role="manager")
    holder = make_lead(actor=manager, first_name="Ada", email="ada@example.com")
    parked = make_lead_sharing_email("ADA@example.com", actor=manager, first_name="Ada", last_name="L")
    services.update_lead(manager, parked, {"email": "Ada@Example.com", "title": "CTO"})
    assert (parked.email, parked.email_key, parked.shared_email_key, parked.title) == (
        "Ada@example.com", None, "ada@example.com", "CTO")
    services.update_lead(manager, parked, {"email": "ada.l@example.com"})
    assert (parked.email_key, parked.shared_email_key) == ("ada.l@example.com", None)
    with pytest.raises(EmailTaken) as refused:
        services.update_lead(manager, parked, {"email": "ada@example.com"})
    assert refused.value.lead_id == holder.id


def test_merging_into_the_holder_lets_the_survivor_take_the_absorbed_email(app, make_lead, make_user):
    manager = make_user(role="manager")
    survivor = make_lead(actor=manager, first_name="Ada", email="ada.old@example.com")
    absorbed = make_lead(actor=manager, first_name="Ada", email="ada.new@example.com")
    merge.merge_leads(manager, survivor, absorbed, {"email": "absorbed"})
    db.session.commit()
    assert survivor.email_key == "ada.new@example.com" and absorbed.deleted_at is not None


def test_the_migration_keeps_existing_duplicates_and_pairs_them(database_url, tmp_path):
    """A database with live leads sharing an email upgrades cleanly: the oldest keeps the key,
    the newer ones keep their email as typed and stay in the duplicates queue; nothing goes."""
    from flask_migrate import downgrade, upgrade

    from config import TestConfig
    from leadflow import create_app

    postgres = database_url.startswith("postgresql")
    url = database_url if postgres else f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = create_app(type("OldDatabase", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url}))
    with old.app_context():
        if postgres:
            downgrade(revision="c5d1e2f3a4b6")
        else:
            upgrade(revision="c5d1e2f3a4b6")
        try:
            with db.engine.begin() as conn:
                for name, email, deleted in (("Ada", "ada@example.com", None), ("Ada 2", "ADA@example.com", None),
                                             ("Ada 3", "ada@example.com", None),
                                             ("Ada trashed", "ada@example.com", "2020-01-01 00:00:00"),
                                             ("Bo", "bo@example.com", None)):
                    factories.insert_raw_lead(conn, name, email, deleted)
            upgrade()
            rows = db.session.execute(db.select(Lead.first_name, Lead.email, Lead.email_key, Lead.shared_email_key)
                                      .order_by(Lead.id)).all()
            assert [tuple(r) for r in rows] == [
                ("Ada", "ada@example.com", "ada@example.com", None),
                ("Ada 2", "ADA@example.com", None, "ada@example.com"),
                ("Ada 3", "ada@example.com", None, "ada@example.com"),
                ("Ada trashed", "ada@example.com", "ada@example.com", None),
                ("Bo", "bo@example.com", "bo@example.com", None)]
            ids = [i for (i,) in db.session.execute(db.select(Lead.id).order_by(Lead.id)).all()]
            pairs = candidate_pairs()[0]
            assert {p: r for p, r in pairs.items()} == {
                (ids[0], ids[1]): ["same email"], (ids[0], ids[2]): ["same email"], (ids[1], ids[2]): ["same email"]}
            db.session.rollback()
            with pytest.raises(IntegrityError), db.engine.begin() as conn:
                factories.insert_raw_lead(conn, "Ada 4", "ada@example.com")
        finally:
            db.session.rollback()
            with db.engine.begin() as conn:
                conn.execute(text("DELETE FROM leads"))
            upgrade()
            db.session.remove()
            db.engine.dispose()
