"""The organization screens as each role sees and uses them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm.exc import StaleDataError

from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.leads.services import delete_lead
from leadflow.organizations import services as organizations_service
from leadflow.organizations.models import Organization

WRITERS = ("admin", "manager", "rep")
DELETERS = ("admin", "manager")


def _org_count() -> int:
    return db.session.scalar(db.select(db.func.count(Organization.id)))


def _reload(org_id: int) -> Organization:
    db.session.expire_all()
    return db.session.get(Organization, org_id)


def _version_in(page: str) -> str:
    match = re.search(r'<input id="version" name="version" type="hidden" value="(\d+)">', page)
    assert match, "the edit form carries no version"
    return match.group(1)


def _edit_data(org: Organization, **changes) -> dict:
    data = {"name": org.name, "domain": org.domain or "", "industry": org.industry or "",
            "size_band": org.size_band or "", "territory": org.territory or "", "version": str(org.version)}
    data.update(changes)
    return data


# --- list, search, sort, paging ---------------------------------------------------

@pytest.mark.parametrize("role", ("admin", "manager", "rep", "viewer"))
def test_every_role_sees_the_list_with_fields_and_live_lead_counts(login_as, make_org, make_lead, make_user, role):
    org = make_org("Acme Rockets", domain="acme.example", industry="Aerospace", size_band="51-200",
                   territory="EMEA")
    make_lead(organization="Acme Rockets")
    make_lead(organization="Acme Rockets")
    gone = make_lead(organization="Acme Rockets")
    delete_lead(make_user("admin"), gone)
    db.session.commit()
    _, client = login_as(role)
    page = client.get("/organizations")
    assert page.status_code == 200
    row = re.search(rf'<tr id="org-row-{org.id}">(.*?)</tr>', page.text, re.S).group(1)
    for text in ("Acme Rockets", "acme.example", "Aerospace", "51-200", "EMEA"):
        assert text in row
    assert re.search(r"<td>2</td>", row), row  # the deleted lead is not counted


def test_empty_list_tells_a_writer_to_add_an_organization(login_as):
    _, client = login_as("rep")
    page = client.get("/organizations").text
    assert "No organizations yet" in page and "Add an organization" in page


def test_empty_list_for_a_viewer_offers_no_add_link(login_as):
    _, client = login_as("viewer")
    page = client.get("/organizations").text
    assert "No organizations yet" in page and "/organizations/new" not in page


@pytest.mark.parametrize("query, expected", [
    ("acme", {"Acme Rockets"}),
    ("ROCKETS", {"Acme Rockets"}),
    ("globex.example", {"Globex Corp"}),  # by domain
    ("https://www.globex.example/about", {"Globex Corp"}),  # a pasted address finds the domain
    ("initech", {"Initrode"}),  # domain differs from the name
    ("%", set()),  # LIKE wildcards are literal
    ("nobody-matches", set()),
])
def test_search_finds_by_name_and_by_domain(login_as, make_org, query, expected):
    make_org("Acme Rockets", domain="acme.example")
    make_org("Globex Corp", domain="globex.example")
    make_org("Initrode", domain="initech.example")
    db.session.commit()
    _, client = login_as("viewer")
    text = client.get("/organizations", query_string={"q": query}).text
    shown = {name for name in ("Acme Rockets", "Globex Corp", "Initrode") if name in text}
    assert shown == expected
    if not expected:
        assert "No organizations match" in text


def test_htmx_search_returns_only_the_results_fragment(login_as, make_org):
    make_org("Acme Rockets", domain="acme.example")
    make_org("Globex Corp", domain="globex.example")
    db.session.commit()
    _, client = login_as("viewer", htmx=True)
    response = client.get("/organizations?q=globex")
    assert response.status_code == 200
    assert "HX-Request" in response.headers.get("Vary", "")
    assert response.text.lstrip().startswith('<section id="org-results"')
    assert "<html" not in response.text
    assert "Globex Corp" in response.text and "Acme Rockets" not in response.text


def test_search_box_is_an_htmx_active_search(login_as):
    _, client = login_as("viewer")
    page = client.get("/organizations").text
    assert 'hx-get="/organizations"' in page and "input changed delay:300ms" in page
    assert 'hx-push-url="true"' in page and '<label for="org-q">' in page


def _names_in_order(text: str, names) -> list[str]:
    return sorted(names, key=lambda n: text.index(n))


def test_sort_by_name_newest_and_number_of_leads(login_as, make_org, make_lead):
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    make_org("Bravo", created_at=base + timedelta(days=2))
    make_org("Alpha", created_at=base)
    make_org("Charlie", created_at=base + timedelta(days=1))
    for _ in range(2):
        make_lead(organization="Charlie")
    make_lead(organization="Bravo")
    db.session.commit()
    _, client = login_as("viewer")
    names = ("Alpha", "Bravo", "Charlie")
    assert _names_in_order(client.get("/organizations").text, names) == ["Alpha", "Bravo", "Charlie"]
    assert _names_in_order(client.get("/organizations?sort=newest").text, names) == ["Bravo", "Charlie", "Alpha"]
    assert _names_in_order(client.get("/organizations?sort=leads").text, names) == ["Charlie", "Bravo", "Alpha"]


def test_list_pages_by_fifty(login_as, make_org):
    for i in range(55):
        make_org(f"Org {i:03d}")
    db.session.commit()
    _, client = login_as("viewer")
    first = client.get("/organizations").text
    assert "Org 049" in first and "Org 050" not in first
    assert "Showing 1–50 of 55 organizations" in first and "Page 1 of 2" in first
    second = client.get("/organizations?page=2").text
    assert "Org 050" in second and "Org 054" in second and "Org 049" not in second
    beyond = client.get("/organizations?page=99")
    assert beyond.status_code == 200 and "Org 054" in beyond.text
    assert client.get("/organizations?page=nonsense").status_code == 200


def _seed_orgs_with_leads(make_org, make_lead, make_user, count: int) -> None:
    owner = make_user("rep")
    for i in range(count):
        org = make_org(f"Seeded {count}-{i}", domain=f"seeded{count}-{i}.example")
        for _ in range(2):
            make_lead(organization=org.name, owner_id=owner.id)


@pytest.mark.parametrize("sort", ("name", "newest", "leads"))
def test_list_query_count_does_not_grow_with_the_number_of_organizations(
        app, login_as, make_org, make_lead, make_user, count_queries, sort):
    _seed_orgs_with_leads(make_org, make_lead, make_user, 5)
    db.session.commit()
    _, client = login_as("viewer")
    client.get(f"/organizations?sort={sort}")  # warm caches
    with count_queries() as few:
        response = client.get(f"/organizations?sort={sort}")
        assert response.status_code == 200 and response.text.count('<tr id="org-row-') == 5
    _seed_orgs_with_leads(make_org, make_lead, make_user, 35)
    db.session.commit()
    with count_queries() as many:
        response = client.get(f"/organizations?sort={sort}")
        assert response.status_code == 200 and response.text.count('<tr id="org-row-') == 40
    assert len(few) == len(many), (few, many)
    assert len(many) <= 10


# --- create -----------------------------------------------------------------------

@pytest.mark.parametrize("role", WRITERS)
def test_writer_creates_an_organization(login_as, role):
    _, client = login_as(role)
    assert client.get("/organizations/new").status_code == 200
    response = client.post("/organizations/new", data={
        "name": "  Wayne   Enterprises ", "domain": "https://www.Wayne.example/", "industry": "Conglomerate",
        "size_band": "1000+", "territory": "Gotham"})
    assert response.status_code == 303
    org = db.session.scalar(db.select(Organization))
    assert response.headers["Location"].endswith(f"/organizations/{org.id}")
    assert (org.name, org.domain, org.size_band, org.territory) == (
        "Wayne Enterprises", "wayne.example", "1000+", "Gotham")
    page = client.get(response.headers["Location"]).text
    assert "Organization Wayne Enterprises created." in page
    assert "Created" in page  # history panel
    assert db.session.scalar(db.select(AuditEntry).where(
        AuditEntry.entity_type == "organization", AuditEntry.action == "create")) is not None


@pytest.mark.parametrize("data, field, message", [
    ({"name": "   "}, "name", "Enter the organization&#39;s name."),
    ({"name": "Good Name", "domain": "not a domain"}, "domain", "Enter a domain such as example.com."),
    ({"name": "acme rockets"}, "name", "An organization with this name already exists."),
    ({"name": "Good Name", "size_band": "huge"}, "size_band", "Choose a size from the list."),
    ({"name": "x" * 201}, "name", "200 characters"),
])
def test_bad_input_on_create_shows_errors_on_the_fields_and_saves_nothing(login_as, make_org, data, field, message):
    make_org("Acme Rockets")
    db.session.commit()
    _, client = login_as("manager")
    response = client.post("/organizations/new", data=data)
    assert response.status_code == 422
    assert message in response.text
    assert f'id="{field}" ' in response.text and 'aria-invalid="true"' in response.text
    assert _org_count() == 1
    assert db.session.scalar(db.select(db.func.count(AuditEntry.id))) == 0


def test_every_problem_is_reported_at_once(login_as, make_org):
    make_org("Acme Rockets")
    db.session.commit()
    _, client = login_as("admin")
    response = client.post("/organizations/new", data={"name": "Acme Rockets", "domain": "bad domain"})
    assert response.status_code == 422
    assert "already exists" in response.text and "Enter a domain such as example.com." in response.text


def test_a_deleted_organizations_name_can_be_reused(login_as, make_org):
    org = make_org("Acme Rockets", deleted_at=datetime.now(timezone.utc))
    db.session.commit()
    _, client = login_as("admin")
    response = client.post("/organizations/new", data={"name": "Acme Rockets"})
    assert response.status_code == 303
    assert _org_count() == 2 and _reload(org.id).deleted_at is not None


# --- permissions ------------------------------------------------------------------

def test_viewer_cannot_create_edit_or_delete(login_as, make_org):
    org = make_org("Acme Rockets")
    db.session.commit()
    _, client = login_as("viewer")
    assert client.get("/organizations/new").status_code == 403
    assert client.post("/organizations/new", data={"name": "Sneaky"}).status_code == 403
    assert client.get(f"/organizations/{org.id}/edit").status_code == 403
    assert client.post(f"/organizations/{org.id}/edit", data=_edit_data(org, name="Renamed")).status_code == 403
    assert client.post(f"/organizations/{org.id}/delete").status_code == 403
    page = client.get(f"/organizations/{org.id}")
    assert page.status_code == 200
    assert f"/organizations/{org.id}/edit" not in page.text and f"/organizations/{org.id}/delete" not in page.text
    org = _reload(org.id)
    assert _org_count() == 1 and org.name == "Acme Rockets" and org.deleted_at is None


def test_rep_can_edit_but_cannot_delete_or_restore(login_as, make_org):
    org = make_org("Acme Rockets")
    trashed = make_org("Old Co", deleted_at=datetime.now(timezone.utc))
    db.session.commit()
    _, client = login_as("rep")
    page = client.get(f"/organizations/{org.id}").text
    assert f"/organizations/{org.id}/edit" in page and f"/organizations/{org.id}/delete" not in page
    assert client.post(f"/organizations/{org.id}/delete").status_code == 403
    assert client.post(f"/organizations/{trashed.id}/restore").status_code == 403
    assert _reload(org.id).deleted_at is None and _reload(trashed.id).deleted_at is not None
    trash_page = client.get("/organizations/trash").text
    assert "Old Co" in trash_page and f"/organizations/{trashed.id}/restore" not in trash_page


def test_post_without_csrf_token_is_refused(login_as, client):
    login_as("admin")
    response = client.post("/organizations/new", data={"name": "No Token"})
    assert response.status_code == 400
    assert _org_count() == 0


def test_unknown_organization_is_404(login_as):
    _, client = login_as("viewer")
    assert client.get("/organizations/999999").status_code == 404


# --- detail and edit ----------------------------------------------------------------

def test_detail_shows_fields_live_leads_and_history(login_as, make_org, make_lead, make_user):
    owner = make_user("rep", name="Olive Owner")
    org = make_org("Acme Rockets", domain="acme.example", industry="Aerospace")
    lead = make_lead(first_name="Ada", last_name="Lovelace", organization="Acme Rockets",
                     owner_id=owner.id, value="12500")
    delete_lead(owner, make_lead(first_name="Gone", last_name="Lead", organization="Acme Rockets"))
    make_lead(first_name="Other", organization="Elsewhere")
    organizations_service.update_organization(owner, org, {"name": "Acme Rockets", "industry": "Space"})
    db.session.commit()
    _, client = login_as("viewer")
    page = client.get(f"/organizations/{org.id}").text
    assert "acme.example" in page and "Space" in page
    row = re.search(rf'<tr>\s*<td class="wrap"><a href="/leads/{lead.id}">Ada Lovelace</a></td>(.*?)</tr>', page, re.S)
    assert row, "the lead is listed with a link to its page"
    assert lead.stage is not None
    assert f"<td>{lead.stage.name}</td>" in row.group(1)
    assert "Olive Owner" in row.group(1) and "$12,500" in row.group(1)
    assert "Gone Lead" not in page and "Other" not in page
    history = page[page.index('id="org-history"'):]
    assert "Industry" in history and "<del>Aerospace</del>" in history and "<ins>Space</ins>" in history
    assert "Olive Owner" in history


@pytest.mark.parametrize("role", WRITERS)
def test_writer_edits_an_organization(login_as, make_org, make_lead, role):
    org = make_org("Acme Rockets", domain="acme.example")
    lead = make_lead(organization="Acme Rockets")
    db.session.commit()
    user, client = login_as(role)
    form = client.get(f"/organizations/{org.id}/edit")
    assert form.status_code == 200 and 'value="acme.example"' in form.text
    version = _version_in(form.text)
    response = client.post(f"/organizations/{org.id}/edit", data=_edit_data(
        org, name="Acme Space", territory="North America", version=version))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/organizations/{org.id}")
    org = _reload(org.id)
    assert (org.name, org.territory, org.domain) == ("Acme Space", "North America", "acme.example")
    page = client.get(f"/organizations/{org.id}").text
    assert "Saved Acme Space." in page and "<ins>Acme Space</ins>" in page
    # the lead list search follows the new name
    assert f'id="lead-row-{lead.id}"' in client.get("/leads?q=space").text


def test_bad_input_on_edit_gives_422_and_saves_nothing(login_as, make_org):
    org = make_org("Acme Rockets", domain="acme.example")
    make_org("Globex Corp")
    db.session.commit()
    _, client = login_as("manager")
    for changes, message in (({"name": ""}, "Enter the organization"),
                             ({"domain": "nope"}, "Enter a domain such as example.com."),
                             ({"name": "GLOBEX corp"}, "Another organization already has this name.")):
        response = client.post(f"/organizations/{org.id}/edit", data=_edit_data(org, **changes))
        assert response.status_code == 422, changes
        assert message in response.text
    org = _reload(org.id)
    assert (org.name, org.domain, org.version) == ("Acme Rockets", "acme.example", 1)


def test_edit_conflict_shows_current_state_and_keeps_the_other_users_change(login_as, make_org, make_user):
    org = make_org("Acme Rockets", industry="Aerospace")
    db.session.commit()
    _, client = login_as("manager")
    version = _version_in(client.get(f"/organizations/{org.id}/edit").text)
    # Meanwhile someone else saves a change.
    other = make_user("admin", name="Other Person")
    organizations_service.update_organization(other, _reload(org.id), _edit_data(org, industry="Rocketry"),
                                              expected_version=int(version))
    db.session.commit()
    response = client.post(f"/organizations/{org.id}/edit", data=_edit_data(
        org, industry="Biotech", version=version))
    assert response.status_code == 409
    assert "changed by someone else" in response.text and "current state" in response.text
    assert 'value="Rocketry"' in response.text  # the form now shows the current value
    assert "Biotech" in response.text  # and what the user had typed, so nothing is lost
    assert _version_in(response.text) == str(_reload(org.id).version)
    assert _reload(org.id).industry == "Rocketry"


def test_edit_without_a_version_overwrites_nothing(login_as, make_org):
    org = make_org("Acme Rockets")
    db.session.commit()
    _, client = login_as("admin")
    data = _edit_data(org, name="Renamed")
    del data["version"]
    response = client.post(f"/organizations/{org.id}/edit", data=data)
    assert response.status_code == 409
    assert _reload(org.id).name == "Acme Rockets"


def test_concurrent_write_detected_at_flush_is_a_conflict(login_as, make_org, monkeypatch):
    org = make_org("Acme Rockets")
    db.session.commit()
    _, client = login_as("admin")

    def stale(*args, **kwargs):
        raise StaleDataError("UPDATE statement on table 'organizations' expected to update 1 row(s); 0 were matched.")

    monkeypatch.setattr(organizations_service, "update_organization", stale)
    response = client.post(f"/organizations/{org.id}/edit", data=_edit_data(org, name="Renamed"))
    assert response.status_code == 409 and "changed by someone else" in response.text
    assert _reload(org.id).name == "Acme Rockets"


# --- delete, trash, restore ---------------------------------------------------------

@pytest.mark.parametrize("role", DELETERS)
def test_manager_and_admin_delete_and_restore(login_as, make_org, make_lead, role):
    org = make_org("Acme Rockets")
    lead = make_lead(first_name="Ada", last_name="Lovelace", organization="Acme Rockets")
    db.session.commit()
    _, client = login_as(role)
    detail = client.get(f"/organizations/{org.id}").text
    assert 'data-confirm="Move Acme Rockets to the trash?' in detail

    response = client.post(f"/organizations/{org.id}/delete")
    assert response.status_code == 303 and response.headers["Location"].endswith("/organizations")
    listing = client.get("/organizations").text
    assert "moved to the trash" in listing and 'id="org-row-' not in listing
    assert _reload(org.id).deleted_at is not None
    assert "Acme Rockets" in client.get("/organizations/trash").text
    # Its lead keeps the link and still shows the name.
    lead_page = client.get(f"/leads/{lead.id}").text
    assert "Acme Rockets" in lead_page and f'href="/organizations/{org.id}"' in lead_page
    # Its page explains it is in the trash instead of 404ing, and offers Restore.
    trashed = client.get(f"/organizations/{org.id}")
    assert trashed.status_code == 200
    assert "is in the trash" in trashed.text and f'action="/organizations/{org.id}/restore"' in trashed.text
    assert f"/organizations/{org.id}/edit" not in trashed.text

    response = client.post(f"/organizations/{org.id}/restore")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/organizations/{org.id}")
    assert _reload(org.id).deleted_at is None
    assert f'id="org-row-{org.id}"' in client.get("/organizations").text
    history = client.get(f"/organizations/{org.id}").text
    assert "Moved to trash" in history and "Restored" in history
    assert "The trash is empty" in client.get("/organizations/trash").text


def test_editing_a_trashed_organization_changes_nothing(login_as, make_org):
    org = make_org("Acme Rockets", deleted_at=datetime.now(timezone.utc))
    db.session.commit()
    _, client = login_as("admin")
    response = client.post(f"/organizations/{org.id}/edit", data=_edit_data(org, name="Renamed"))
    assert response.status_code == 303
    assert "Restore it before editing it" in client.get(response.headers["Location"]).text
    assert _reload(org.id).name == "Acme Rockets"


def test_restore_refused_when_a_live_organization_has_the_name(login_as, make_org):
    trashed = make_org("Acme Rockets", deleted_at=datetime.now(timezone.utc))
    make_org("Acme Rockets")
    db.session.commit()
    _, client = login_as("manager")
    response = client.post(f"/organizations/{trashed.id}/restore")
    assert response.status_code == 409
    assert "Another organization is already called" in response.text
    assert _reload(trashed.id).deleted_at is not None


# --- output is escaped ----------------------------------------------------------------

def test_organization_names_are_escaped_on_every_page(login_as, make_org, make_lead):
    org = make_org("<script>alert(1)</script>", domain="evil.example", industry="<b>bold</b>")
    make_lead(organization="<script>alert(1)</script>")
    db.session.commit()
    _, client = login_as("admin")
    for url in ("/organizations", f"/organizations/{org.id}", f"/organizations/{org.id}/edit",
                "/organizations?q=script"):
        text = client.get(url).text
        assert "<script>alert(1)</script>" not in text, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, url
    org.deleted_at = datetime.now(timezone.utc)
    db.session.commit()
    for url in ("/organizations/trash", f"/organizations/{org.id}"):
        text = client.get(url).text
        assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text, url


def test_a_name_found_earlier_in_the_transaction_finds_no_organization_once_it_is_deleted_or_renamed(app):
    from leadflow.organizations.names import find_organization

    gone = Organization(name="Gone Ltd", name_key="gone ltd")
    renamed = Organization(name="Old Name", name_key="old name")
    db.session.add_all([gone, renamed])
    db.session.flush()
    assert find_organization("gone  LTD") is gone and find_organization("Old Name") is renamed
    gone.deleted_at = datetime.now(timezone.utc)
    renamed.name, renamed.name_key = "New Name", "new name"
    db.session.flush()
    assert find_organization("Gone Ltd") is None
    assert find_organization("Old Name") is None and find_organization("new name") is renamed
