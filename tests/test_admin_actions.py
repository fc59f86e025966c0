"""The row actions and editor saves that settings screens share (``leadflow.web.admin``):
each commits and says what happened, or changes nothing and says why."""

from __future__ import annotations

import pytest
from flask import get_flashed_messages
from werkzeug.exceptions import Forbidden

from leadflow.accounts.models import User
from leadflow.errors import PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.routing.models import RoutingRule
from leadflow.sequences.models import Sequence, SequenceStep
from leadflow.web.admin import apply_or_flash


def _add_routing_rule(client, name: str) -> RoutingRule:
    owner = db.session.scalar(db.select(User).where(User.role == "admin"))
    client.post("/settings/routing/new", data={"name": name, "active": "y", "target_kind": "user",
                                               "target_user_id": str(owner.id), "strategy": "round_robin"})
    return db.session.scalar(db.select(RoutingRule).where(RoutingRule.name == name))


def test_moving_the_first_rule_up_changes_nothing_and_says_nothing(login_as):
    _, client = login_as("admin")
    first = _add_routing_rule(client, "First")
    _add_routing_rule(client, "Second")
    client.get("/settings/routing")  # read the "saved" flashes

    assert client.post(f"/settings/routing/{first.id}/move", data={"direction": "up"}).status_code == 303
    page = client.get("/settings/routing").text
    assert "Moved First" not in page
    db.session.expire_all()
    assert [r.name for r in db.session.scalars(db.select(RoutingRule).order_by(RoutingRule.position))] == [
        "First", "Second"]


def test_htmx_row_action_redirects_the_page_and_flashes_the_outcome(login_as):
    _, htmx = login_as("admin", htmx=True)
    rule = _add_routing_rule(htmx, "Inbound")
    htmx.get("/settings/routing")

    response = htmx.post(f"/settings/routing/{rule.id}/active")
    assert response.status_code == 204 and response.headers["HX-Redirect"].endswith("/settings/routing")
    assert "Rule Inbound paused." in htmx.get("/settings/routing").text


def test_refused_row_action_is_rolled_back_and_explained(login_as):
    _, client = login_as("manager")
    client.post("/sequences/", data={"name": "Nurture"})
    sequence = db.session.scalar(db.select(Sequence))
    response = client.post(f"/sequences/{sequence.id}/steps", data={"kind": "nonsense"})
    assert response.status_code == 303 and response.headers["Location"].endswith("#steps")
    assert "Choose send e-mail, wait or create task." in client.get(f"/sequences/{sequence.id}").text
    assert db.session.scalar(db.select(db.func.count(SequenceStep.id))) == 0


def test_apply_or_flash_turns_refusals_into_messages_and_permission_into_403(app):
    with app.test_request_context("/"):
        def refuse():
            raise ValidationFailed({"name": ["Give it a name."], "kind": ["Pick a kind."]})
        assert apply_or_flash(refuse, "Saved.") is False
        assert apply_or_flash(lambda: None, "Saved.") is True
        assert apply_or_flash(lambda: False, "Moved.") is False
        assert get_flashed_messages(with_categories=True) == [("error", "Give it a name. Pick a kind."),
                                                              ("success", "Saved.")]

        def forbid():
            raise PermissionDenied("no")
        with pytest.raises(Forbidden):
            apply_or_flash(forbid, "Saved.")


def test_save_and_redirect_says_when_nothing_changed_and_never_reads_a_typed_name_as_a_format(app):
    from leadflow.web.admin import save_and_redirect

    def refused(errors):
        return "editor again"
    with app.test_request_context("/"):
        response = save_and_redirect(lambda: False, refused, lambda _: "Saved.", lambda _: "/back",
                                     unchanged="The name was not changed.")
        assert response.status_code == 303 and response.location == "/back"
        typed = "Q{3} {saved.name} {0}"
        save_and_redirect(lambda: True, refused, lambda _: f"Pipeline “{typed}” saved.", lambda _: "/back")

        def invalid():
            raise ValidationFailed({"name": ["Enter a name."]})
        assert save_and_redirect(invalid, refused, "Saved.", lambda _: "/back") == "editor again"
        assert get_flashed_messages(with_categories=True) == [
            ("info", "The name was not changed."), ("success", "Pipeline “Q{3} {saved.name} {0}” saved.")]
