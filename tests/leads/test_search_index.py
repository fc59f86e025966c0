"""The list search finds words of three characters or more through a trigram index over
``lead_search`` (an FTS5 table on SQLite, a pg_trgm GIN index on PostgreSQL). The index must
find exactly what reading every row finds, after every kind of write, and hostile words are
only ever text."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads import merge as merge_service
from leadflow.leads import services
from leadflow.leads.models import LEAD_SEARCH_FTS, LEAD_SEARCH_TRGM_INDEX, Lead
from leadflow.leads.queries import LeadFilters, filtered_leads, fts_trigram_query, search_matches
from leadflow.organizations.services import update_organization
from tests.factories import insert_lead_in_plain_sql

pytestmark = pytest.mark.usefixtures("app")

TERMS = ("ada", "lovelace", "LOVELACE", "ada@engines.example", "engines", "4155550132", "555", "+1415",
         "difference", "babbage", "acme widgets", "widgets", "ada king", "zzz", "a", "ad", "e.", "_", "%",
         "ngine", "example ada", "'", '"', "a_b", "müller", "MÜLLER", "ü", "ß")


def searched(viewer, q: str) -> list[int]:
    """Lead ids the list search finds for ``q``."""
    query = filtered_leads(LeadFilters.from_args({"q": q}), viewer).with_only_columns(Lead.id)
    return sorted(db.session.scalars(query))


def scanned(q: str) -> list[int]:
    """What the plain scan finds: live leads whose search text holds every word (the first five)."""
    words = q.lower().split()[:5]
    rows = db.session.execute(db.select(Lead.id, Lead.search_text).where(Lead.deleted_at.is_(None)))
    return sorted(lead_id for lead_id, search_text in rows if all(w in (search_text or "") for w in words))


def assert_index_agrees(viewer, terms=TERMS) -> None:
    """The index holds what lead_search holds, and every term finds what a full scan finds."""
    db.session.flush()
    if db.engine.dialect.name == "sqlite":  # FTS5 compares its index with its content table
        db.session.execute(text(f"INSERT INTO {LEAD_SEARCH_FTS} ({LEAD_SEARCH_FTS}, rank) "
                                "VALUES ('integrity-check', 1)"))
    for term in terms:
        assert searched(viewer, term) == scanned(term), term


def _ada_and_bob(admin):
    ada = services.create_lead(admin, {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@engines.example",
                                       "organization": "Analytical Engines"}, region="US")
    bob = services.create_lead(admin, {"first_name": "Bob", "last_name": "Babbage", "phone": "(415) 555-0132",
                                       "email": "a_b@example.com"}, region="US")
    services.create_lead(admin, {"first_name": "Jürgen", "last_name": "Müller", "email": "jm@example.de"},
                         region="US")
    db.session.commit()
    return ada, bob


def test_the_index_follows_creates_edits_custom_fields_renames_trash_restore_and_purge(make_user):
    admin = make_user("admin")
    ada, bob = _ada_and_bob(admin)
    assert searched(admin, "lovelace") == [ada.id] and searched(admin, "4155550132") == [bob.id]
    assert_index_agrees(admin)

    services.update_lead(admin, ada, {"last_name": "King"})
    services.add_custom_field(admin, bob, "Product", "Acme Widgets")
    db.session.commit()
    assert searched(admin, "lovelace") == [] and searched(admin, "acme widgets") == [bob.id]
    assert_index_agrees(admin)

    update_organization(admin, ada.organization, {"name": "Difference Engines"})
    db.session.commit()
    assert searched(admin, "difference") == [ada.id] and searched(admin, "analytical") == []
    assert_index_agrees(admin)

    services.delete_lead(admin, ada)
    db.session.commit()
    assert searched(admin, "difference") == []
    assert_index_agrees(admin)

    services.restore_from_trash(ada, admin)
    db.session.commit()
    assert searched(admin, "difference") == [ada.id]
    assert_index_agrees(admin)

    services.delete_lead(admin, ada)
    services.purge_trash(0, now=utcnow() + timedelta(days=1))
    db.session.commit()
    assert db.session.get(Lead, ada.id) is None
    assert_index_agrees(admin)


def test_the_index_follows_a_merge_and_its_undo(make_user):
    admin = make_user("admin")
    ada, bob = _ada_and_bob(admin)
    record = merge_service.merge_leads(admin, ada, bob, {"phone": "absorbed"})
    db.session.commit()
    assert searched(admin, "4155550132") == [ada.id] and searched(admin, "babbage") == []
    assert_index_agrees(admin)

    merge_service.undo_merge(admin, record)
    db.session.commit()
    assert searched(admin, "babbage") == [bob.id]
    assert_index_agrees(admin)


def test_a_lead_inserted_in_plain_sql_is_in_the_index(make_user):
    admin = make_user("admin")
    insert_lead_in_plain_sql()  # as a bulk writer outside the ORM would: the triggers keep up
    db.session.commit()
    assert len(searched(admin, "cy@bulk.example")) == 1
    assert_index_agrees(admin, TERMS + ("cy@bulk", "bulk"))


HOSTILE = ('"', '""', "'", "' OR 1=1 --", 'a"b"c', "***", "ada*", "NEAR(ada lovelace)", "ada NEAR lovelace",
           "-ada", "--", "ada OR bob", "ada AND NOT bob", "^ada", "{text}:ada", "text:ada", "(((", ")))",
           "%%%", "___", "\\\\\\", "a\\_b", "😀😀😀", "日本語", "ⅷⅷⅷ", "\u0301\u0301\u0301", "x" * 500,
           "ada\x00lov", "ＡＤＡ")


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_words_are_only_text(make_user, q):
    admin = make_user("admin")
    _ada_and_bob(admin)
    assert searched(admin, q) == scanned(q)


def test_hostile_words_in_the_list_page_never_fail(login_as):
    admin, client = login_as("admin")
    _ada_and_bob(admin)
    for q in HOSTILE:
        response = client.get("/leads", query_string={"q": q})
        assert response.status_code == 200, q


def test_the_fts_query_quotes_each_trigram():
    assert fts_trigram_query(["abcdefg"]) == '"abc" AND "def" AND "efg"'
    assert fts_trigram_query(["abcdef", "xyz"]) == '"abc" AND "def" AND "xyz"'
    assert fts_trigram_query(['a"b', "a\"b"]) == '"a""b"'
    assert fts_trigram_query(["aaaaaa"]) == '"aaa"'
    assert fts_trigram_query(["ada@engines.example"]) == '"ada" AND "@en" AND "gin" AND "es."'


def _plan(viewer, q: str) -> str:
    """SQLite: the plan of the list's query. PostgreSQL: the plan of the search table's part
    with sequential and plain index scans off, so that only a bitmap scan of an index that
    can answer the LIKE is left (on a few rows the planner rightly prefers reading them all)."""
    if db.engine.dialect.name == "sqlite":
        query = filtered_leads(LeadFilters.from_args({"q": q}), viewer).with_only_columns(Lead.id)
        compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
        rows = db.session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
        return "\n".join(row[-1] for row in rows)
    compiled = search_matches(q).compile(db.engine, compile_kwargs={"literal_binds": True})
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    db.session.execute(text("SET LOCAL enable_indexscan = off"))
    return "\n".join(row[0] for row in db.session.connection().exec_driver_sql(f"EXPLAIN {compiled}", {}))


def test_words_of_three_characters_or_more_use_the_index_and_shorter_ones_scan(make_user):
    admin = make_user("admin")
    _ada_and_bob(admin)
    index = LEAD_SEARCH_FTS if db.engine.dialect.name == "sqlite" else LEAD_SEARCH_TRGM_INDEX
    assert index in _plan(admin, "ada@engines.example")
    assert index in _plan(admin, "ada lovelace")
    assert index in _plan(admin, "100%_")
    if db.engine.dialect.name == "sqlite":  # PostgreSQL may use the index for a short word too (and recheck)
        assert index not in _plan(admin, "ad")


def test_the_list_checks_words_on_the_lead_rows_it_reads_on_sqlite(make_user):
    """On SQLite the list finds candidates through the index and checks each word on the lead
    row it reads anyway, never on the search table's row too; a word of three ASCII letters is
    the one trigram the index was asked for, so it is not checked again at all."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL checks every LIKE on the search table's rows its index finds")
    admin = make_user("admin")
    _ada_and_bob(admin)
    for q in ("ada", "ada 555", "ada lovelace", "üll", "ad ada"):
        assert "SEARCH lead_search " not in _plan(admin, q), q
    checked = {q: str(filtered_leads(LeadFilters.from_args({"q": q}), admin).compile(db.engine)).count("LIKE")
               for q in ("ada", "ada 555", "ada lovelace", "üll", "ad ada")}
    assert checked == {"ada": 0, "ada 555": 0, "ada lovelace": 1, "üll": 1, "ad ada": 1}
    assert_index_agrees(admin, ("ada", "ADA", "ada 555", "ada lov", "%%%", "a_b", "üll", "ÜLL", "ＡＤＡ", "ad ada"))
