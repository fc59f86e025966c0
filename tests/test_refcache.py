"""Reference data kept for the process (``leadflow/web/refcache.py``): pages read it once,
and never show it stale after a write, whoever made the write."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from leadflow.accounts.services import load_session_user, menu_users
from leadflow.accounts.system import system_actor
from leadflow.extensions import db
from leadflow.governance.settings import get_setting, set_setting
from leadflow.web import refcache


def _owner_menu(page: str) -> str:
    return page[page.index('id="f-owner"'):page.index("</select>", page.index('id="f-owner"'))]


@pytest.mark.real_commits  # the rename is committed by a connection of its own, as another process would
def test_a_rename_by_another_connection_shows_on_the_next_page(login_as, make_user):
    rep_id = make_user("rep", name="Ada Early").id
    db.session.commit()
    _, client = login_as("viewer")
    assert "Ada Early" in _owner_menu(client.get("/leads").text)
    assert "Ada Early" in _owner_menu(client.get("/leads").text)  # now kept for the process
    db.session.remove()  # the test's own read transaction would hold SQLite's lock
    with db.engine.begin() as other:  # raw SQL on its own connection: no ORM event sees it
        other.execute(text("UPDATE users SET name = 'Ada Later' WHERE id = :id"), {"id": rep_id})
    menu = _owner_menu(client.get("/leads").text)
    assert "Ada Later" in menu and "Ada Early" not in menu


@pytest.mark.real_commits  # a sign-in's time is committed for real
def test_signing_in_does_not_throw_away_the_kept_menus(login_as, make_user):
    make_user("rep", name="Kept Person")
    db.session.commit()
    _, client = login_as("viewer")
    client.get("/leads")
    before = refcache.versions()["users"]
    db.session.rollback()
    login_as("manager")  # a new user (a bump), then its sign-in (no bump: only its last_login_at)
    db.session.rollback()
    after_new_user = refcache.versions()["users"]
    db.session.rollback()
    with db.engine.begin() as other:
        other.execute(text("UPDATE users SET last_login_at = CURRENT_TIMESTAMP"))
    assert refcache.versions()["users"] == after_new_user > before


@pytest.mark.real_commits  # each write is committed by a connection of its own, as another process would
def test_routing_availability_bumps_the_users_version_and_a_sign_in_does_not(make_user):
    """A round-robin form's team is kept with who is away or at their cap (routing.kept_people)."""
    user_id = make_user("rep").id
    db.session.commit()

    def version_after(sql: str) -> int:
        db.session.remove()  # the test's own read transaction would hold SQLite's lock
        with db.engine.begin() as other:
            other.execute(text(sql), {"id": user_id})
        return refcache.versions()["users"]

    start = version_after("UPDATE users SET last_login_at = CURRENT_TIMESTAMP WHERE id = :id")
    assert version_after("UPDATE users SET out_of_office_until = CURRENT_TIMESTAMP WHERE id = :id") == start + 1
    assert version_after("UPDATE users SET max_open_leads = 3 WHERE id = :id") == start + 2
    assert version_after("UPDATE users SET last_login_at = CURRENT_TIMESTAMP WHERE id = :id") == start + 2


def test_a_transaction_sees_its_own_change_before_and_after_its_flush(app):
    assert get_setting("workspace_name") == "LeadFlow"
    set_setting(system_actor("test"), "workspace_name", "Acme")
    assert get_setting("workspace_name") == "Acme"
    db.session.flush()
    db.session.expire_all()
    db.session.info.pop("leadflow.cache.settings", None)  # read again from the process cache
    assert get_setting("workspace_name") == "Acme"
    db.session.commit()
    assert get_setting("workspace_name") == "Acme"


def test_a_user_added_in_this_transaction_is_in_the_menus_before_the_flush(make_user):
    assert "Fresh Face" not in [u.name for u in menu_users()]
    make_user("rep", name="Fresh Face")
    assert "Fresh Face" in [u.name for u in menu_users()]


def test_the_cache_keeps_a_bounded_number_of_answers(app):
    for i in range(refcache.MAX_ENTRIES * 3):
        assert refcache.cached(("tags",), f"key {i}", lambda i=i: i) == i
    assert refcache.kept_count() <= refcache.MAX_ENTRIES


def test_a_signed_in_page_reads_the_versions_with_its_user(login_as, make_user, count_queries):
    make_user("rep", name="Menu Person")
    db.session.commit()
    _, client = login_as("viewer")
    client.get("/leads")
    with count_queries() as statements:
        page = client.get("/leads").text
    assert "Menu Person" in _owner_menu(page)
    with_versions = [s for s in statements if "reference_versions" in s]
    assert len(with_versions) == 1 and "FROM users" in with_versions[0], "\n".join(statements)


def test_the_versions_read_with_the_user_are_the_tables(app, make_user, count_queries):
    user = make_user("rep")
    db.session.commit()
    table = dict(db.session.execute(db.select(refcache.reference_versions.c.kind,
                                              refcache.reference_versions.c.version)).all())
    db.session.rollback()
    assert load_session_user(f"{user.id}:{user.session_version}") is not None
    with count_queries() as statements:
        assert refcache.versions() == table and len(table) == len(refcache.KIND_TABLES)
    assert statements == []
