"""Settings → Users: admins add and edit people, their role and team; nobody else may."""

from __future__ import annotations

from datetime import datetime, timezone
from html.parser import HTMLParser

import pytest

from leadflow.accounts.models import Team, User
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.routing.models import RoutingAssignee, RoutingRule
from leadflow.routing.services import eligible_team_members

NEW_USER = {"name": "Nora North", "email": "nora@example.com", "role": "manager", "team": "North",
            "timezone": "Europe/Berlin", "password": "maple orbit lantern 7"}


def _user(email):
    db.session.expire_all()
    return db.session.scalar(db.select(User).where(User.email == email))


def test_admin_adds_a_user_with_role_and_team(app, login_as, sign_in):
    _, client = login_as("admin")
    form = client.get("/settings/users/new")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    for field in ("name", "email", "role", "team", "timezone", "password"):
        assert f'for="{field}"' in html

    response = client.post("/settings/users/new", data=NEW_USER)
    assert response.status_code == 302 and response.headers["Location"] == "/settings/users"
    user = _user("nora@example.com")
    assert (user.name, user.role, user.team.name, user.timezone) == ("Nora North", "manager", "North", "Europe/Berlin")

    listing = client.get("/settings/users").get_data(as_text=True)
    assert "User nora@example.com created." in listing
    assert "Nora North" in listing and "North" in listing
    assert sign_in(app.test_client(), "nora@example.com", password=NEW_USER["password"]).status_code == 302
    assert db.session.scalar(db.select(AuditEntry).where(
        AuditEntry.entity_type == "user", AuditEntry.entity_id == user.id, AuditEntry.action == "create"))


@pytest.mark.parametrize("change, field_message", [
    ({"email": "not an email"}, "An email address must have an @-sign."),
    ({"name": ""}, "Enter a name."),
    ({"timezone": "Mars/Olympus"}, "Unknown timezone."),
    ({"role": "owner"}, "Not a valid choice"),
    ({"password": "short"}, "Use at least 12 characters."),
])
def test_bad_input_on_the_new_user_form_saves_nothing(app, login_as, change, field_message):
    _, client = login_as("admin")
    response = client.post("/settings/users/new", data={**NEW_USER, **change})
    assert response.status_code == 422
    assert field_message in response.get_data(as_text=True)
    assert _user(change.get("email", NEW_USER["email"])) is None
    assert db.session.scalar(db.select(Team).where(Team.name == "North")) is None


def test_a_second_user_with_the_same_email_is_refused(app, login_as, make_user):
    make_user(role="rep", email="nora@example.com")
    _, client = login_as("admin")
    response = client.post("/settings/users/new", data=NEW_USER)
    assert response.status_code == 422
    assert "A user with this email already exists." in response.get_data(as_text=True)


def test_admin_edits_role_and_team_and_the_change_is_audited(app, login_as, make_user):
    rep = make_user(role="rep", name="Sam Rep")
    admin, client = login_as("admin")
    page = client.get(f"/settings/users/{rep.id}")
    assert page.status_code == 200 and rep.email in page.get_data(as_text=True)
    response = client.post(f"/settings/users/{rep.id}", data={
        "name": "Sam Manager", "role": "manager", "team": "South", "timezone": "UTC", "active": "y"})
    assert response.status_code == 302
    user = _user(rep.email)
    assert (user.name, user.role, user.team.name) == ("Sam Manager", "manager", "South")
    changes = {(e.field, e.old_value, e.new_value) for e in db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.entity_type == "user", AuditEntry.entity_id == rep.id))}
    assert {("role", "rep", "manager"), ("team", None, "South"), ("name", "Sam Rep", "Sam Manager")} <= changes
    assert "User {} saved.".format(rep.email) in client.get("/settings/users").get_data(as_text=True)


def test_emptying_the_team_removes_the_user_from_it(app, login_as, make_user):
    _, client = login_as("admin")
    client.post("/settings/users/new", data=NEW_USER)
    user = _user("nora@example.com")
    response = client.post(f"/settings/users/{user.id}", data={
        "name": user.name, "role": "manager", "team": "", "timezone": "UTC", "active": "y"})
    assert response.status_code == 302
    assert _user("nora@example.com").team is None


def test_an_admin_cannot_demote_or_deactivate_themselves(app, login_as):
    admin, client = login_as("admin")
    for data in ({"role": "rep", "active": "y"}, {"role": "admin"}):
        response = client.post(f"/settings/users/{admin.id}", data={
            "name": admin.name, "team": "", "timezone": "UTC", **data})
        assert response.status_code == 422
        assert "You cannot remove your own admin role or deactivate yourself." in response.get_data(as_text=True)
    user = _user(admin.email)
    assert user.role == "admin" and user.active
    assert client.get("/settings/users").status_code == 200


def test_a_refused_edit_changes_nothing(app, login_as, make_user):
    rep = make_user(role="rep", name="Sam Rep")
    _, client = login_as("admin")
    response = client.post(f"/settings/users/{rep.id}", data={
        "name": "Renamed", "role": "manager", "team": "South", "timezone": "Nowhere/Land", "active": "y"})
    assert response.status_code == 422
    user = _user(rep.email)
    assert (user.name, user.role, user.team) == ("Sam Rep", "rep", None)
    assert db.session.scalar(db.select(Team).where(Team.name == "South")) is None


def test_editing_a_user_who_does_not_exist_is_404(app, login_as):
    _, client = login_as("admin")
    assert client.get("/settings/users/999999").status_code == 404


@pytest.mark.parametrize("role", ["manager", "rep", "viewer"])
def test_only_admins_manage_users_and_settings(app, login_as, make_user, role):
    someone = make_user(role="rep", name="Target Person")
    _, client = login_as(role)
    for url in ("/settings/users", "/settings/users/new", f"/settings/users/{someone.id}", "/settings"):
        assert client.get(url).status_code == 403, url
    assert client.post("/settings/users/new", data={**NEW_USER, "role": "admin"}).status_code == 403
    assert client.post(f"/settings/users/{someone.id}", data={
        "name": "Hijacked", "role": "admin", "team": "", "timezone": "UTC", "active": "y"}).status_code == 403
    assert client.post("/settings", data={"workspace_name": "Hijacked", "default_phone_region": "US",
                                          "default_currency": "USD"}).status_code == 403
    assert _user("nora@example.com") is None
    target = _user(someone.email)
    assert (target.name, target.role) == ("Target Person", "rep")
    # The navigation does not offer what they may not open.
    assert 'href="/settings"' not in client.get("/").get_data(as_text=True)


def test_signed_out_visitors_are_sent_to_sign_in(app, client):
    response = client.get("/settings/users")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_users_page_lists_people_and_teams(app, login_as, make_user):
    from leadflow.accounts.services import find_or_create_team

    team = find_or_create_team("West")
    make_user(role="rep", name="Wendy West", team=team)
    make_user(role="viewer", name="Vic Viewer", active=False)
    _, client = login_as("admin")
    html = client.get("/settings/users").get_data(as_text=True)
    assert "Wendy West" in html and "Vic Viewer" in html and "Deactivated" in html
    assert "West — 1 member" in html


# --- saving what the edit form shows ---------------------------------------------------------

class _FormValues(HTMLParser):
    """What a browser posts for a page's form as shown: each named input's value (checkboxes
    only when checked), each select's chosen option, each textarea's text."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}
        self._select = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button"):
            if attrs.get("type") != "checkbox" or "checked" in attrs:
                self.values[name] = attrs.get("value") or ("y" if attrs.get("type") == "checkbox" else "")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and ("selected" in attrs or self._select not in self.values):
            self.values[self._select] = attrs.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data


def _shown_form(client, url) -> dict[str, str]:
    page = client.get(url)
    assert page.status_code == 200
    parser = _FormValues()
    parser.feed(page.get_data(as_text=True))
    return parser.values


def _stored(user_id) -> dict:
    db.session.expire_all()
    user = db.session.get(User, user_id)
    return {column.key: getattr(user, column.key) for column in User.__table__.columns}


def _rotation(team):
    return [u.id for u in eligible_team_members(team)]


@pytest.fixture
def two_teams(app):
    inbound, outbound = Team(name="Inbound"), Team(name="Outbound")
    db.session.add_all([inbound, outbound])
    db.session.flush()
    db.session.add(RoutingRule(name="Inbound round-robin", target_kind="team", target_team_id=inbound.id,
                               strategy="round_robin"))
    db.session.flush()
    return inbound, outbound


@pytest.mark.parametrize("role, active", [("admin", True), ("manager", True), ("rep", True), ("viewer", True),
                                          ("rep", False)])
def test_saving_a_user_of_any_role_as_shown_changes_nothing(login_as, make_user, two_teams, role, active):
    inbound, _ = two_teams
    person = make_user(role, name="Ines Inbound", team=inbound, timezone="Asia/Kolkata", active=active,
                       max_open_leads=7, out_of_office_until=datetime(2026, 1, 2, 9, 15, 42, tzinfo=timezone.utc))
    teammate = make_user("rep", name="Tom Teammate", team=inbound)
    db.session.add(RoutingAssignee(user_id=person.id, last_assigned_at=datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)))
    # The editing admin is in another zone than UTC and than the person edited.
    _, client = login_as("admin", timezone="America/New_York")
    before, rotation_before = _stored(person.id), _rotation(inbound)
    assert (person.id in rotation_before) == (role != "viewer" and active)

    shown = _shown_form(client, f"/settings/users/{person.id}")
    assert shown["team"] == "Inbound" and shown["role"] == role
    assert shown["out_of_office_until"] == "2026-01-02T04:15"  # 09:15 UTC is 04:15 in New York
    response = client.post(f"/settings/users/{person.id}", data=shown)
    assert response.status_code == 302, response.get_data(as_text=True)[:800]

    assert _stored(person.id) == before
    assert sorted(db.session.scalars(db.select(Team.name))) == ["Inbound", "Outbound"]
    assert _rotation(inbound) == rotation_before and teammate.id in rotation_before
    assert db.session.get(RoutingAssignee, person.id).last_assigned_at == datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
    assert db.session.scalar(db.select(RoutingRule.target_team_id)) == inbound.id
    assert not db.session.scalars(db.select(AuditEntry).where(AuditEntry.entity_type == "user",
                                                              AuditEntry.entity_id == person.id)).all()


@pytest.mark.parametrize("typed", ["Outbound", "outbound"])
def test_changing_the_team_moves_the_user_between_the_real_teams(login_as, make_user, two_teams, typed):
    inbound, outbound = two_teams
    person = make_user("rep", name="Mo Mover", team=inbound)
    _, client = login_as("admin")
    page = client.get(f"/settings/users/{person.id}").get_data(as_text=True)
    assert '<option value="Inbound">' in page and '<option value="Outbound">' in page  # the box offers them
    assert "&lt;Team" not in page and "<Team" not in page

    response = client.post(f"/settings/users/{person.id}", data={**_shown_form(client, f"/settings/users/{person.id}"),
                                                                  "team": typed})
    assert response.status_code == 302
    assert _stored(person.id)["team_id"] == outbound.id
    assert db.session.scalar(db.select(db.func.count(Team.id))) == 2
    assert person.id not in _rotation(inbound) and person.id in _rotation(outbound)
    changes = {(e.field, e.old_value, e.new_value) for e in db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.entity_type == "user", AuditEntry.entity_id == person.id))}
    assert changes == {("team", "Inbound", "Outbound")}
