"""The list search reads ``lead_search``, which database triggers keep equal to each lead's
search text whatever writes the lead: the services, a bulk insert in plain SQL (as the CSV
import does), an organization's rename, a delete for good."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads import services
from leadflow.leads.models import Lead, lead_search
from leadflow.leads.queries import LeadFilters, filtered_leads
from leadflow.organizations.services import update_organization
from tests.factories import insert_lead_in_plain_sql

pytestmark = pytest.mark.usefixtures("app")


def found(viewer, q: str) -> list[str]:
    filters = LeadFilters.from_args({"q": q})
    return sorted(lead.first_name for lead in db.session.scalars(filtered_leads(filters, viewer)))


def side_text(lead_id: int) -> str | None:
    return db.session.scalar(db.select(lead_search.c.text).where(lead_search.c.lead_id == lead_id))


def test_search_follows_creates_edits_renames_trash_and_deletes(make_user):
    admin = make_user("admin")
    ada = services.create_lead(admin, {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@engines.example",
                                       "organization": "Analytical Engines"}, region="US")
    services.create_lead(admin, {"first_name": "Bob", "last_name": "Babbage", "phone": "(415) 555-0132"}, region="US")
    db.session.commit()
    assert found(admin, "lovelace") == ["Ada"]
    assert found(admin, "analytical ENGINES") == ["Ada"]
    assert found(admin, "4155550132") == ["Bob"]
    assert side_text(ada.id) == ada.search_text

    services.update_lead(admin, ada, {"last_name": "King"})
    db.session.commit()
    assert found(admin, "lovelace") == [] and found(admin, "king") == ["Ada"]

    update_organization(admin, ada.organization, {"name": "Difference Engines"})
    db.session.commit()
    assert found(admin, "analytical") == [] and found(admin, "difference") == ["Ada"]
    assert side_text(ada.id) == ada.search_text

    services.delete_lead(admin, ada)  # to the trash: kept, but no longer found
    db.session.commit()
    assert found(admin, "king") == []

    services.purge_trash(0, now=utcnow() + timedelta(days=1))  # and for good: its search row goes too
    db.session.commit()
    assert side_text(ada.id) is None
    assert db.session.scalar(db.select(db.func.count()).select_from(lead_search)) == 1


def test_a_lead_inserted_in_plain_sql_is_found(make_user):
    admin = make_user("admin")
    insert_lead_in_plain_sql()  # as a bulk writer outside the ORM would: the triggers keep up
    db.session.commit()
    assert found(admin, "cy@bulk") == ["Cy"]
    assert db.session.scalar(db.select(db.func.count(Lead.id))) == 1


def test_search_words_are_matched_literally(make_user):
    admin = make_user("admin")
    services.create_lead(admin, {"first_name": "Percent", "last_name": "Sign", "email": "a_b@example.com"},
                         region="US")
    services.create_lead(admin, {"first_name": "Other", "last_name": "Sign", "email": "axb@example.com"},
                         region="US")
    db.session.commit()
    assert found(admin, "a_b") == ["Percent"]  # "_" is not a wildcard
    assert found(admin, "%") == []
    assert found(admin, "sign example") == ["Other", "Percent"]  # every word must match


def test_many_leads_inserted_at_once_get_their_search_rows_from_one_trigger_call(make_user):
    """On PostgreSQL a statement that inserts many leads (the CSV import's 5,000 a chunk)
    writes their search rows with one trigger call, not one per lead; and they are found."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's triggers run inside the inserting statement; nothing to count")
    admin = make_user("admin")
    db.session.execute(text("SET LOCAL track_functions = 'pl'"))  # this transaction's calls, counted
    db.session.execute(text(
        "INSERT INTO leads (first_name, last_name, search_text, lifecycle, temperature, score, currency, "
        "marketing_consent, board_rank, version, created_at, updated_at) "
        "SELECT 'Bulk' || n, 'Row', 'bulk' || n || ' row', 'lead', 'cold', 0, 'USD', false, 0, 1, :now, :now "
        "FROM generate_series(1, 3) AS n"), {"now": utcnow()})
    calls = db.session.scalar(text("SELECT COALESCE(SUM(calls), 0) FROM pg_stat_xact_user_functions "
                                   "WHERE funcname LIKE 'leads_search%'"))
    db.session.commit()
    assert calls == 1
    assert found(admin, "row") == ["Bulk1", "Bulk2", "Bulk3"]
