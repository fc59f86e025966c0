"""`flask leadflow create-user`: scriptable, exit code 0 when made, 2 for refused input."""

from __future__ import annotations

import pytest

from leadflow.accounts.models import Team, User
from leadflow.extensions import db
from tests.conftest import TEST_PASSWORD


def _create(runner, *args):
    return runner.invoke(args=["leadflow", "create-user", *args])


def _user(email):
    db.session.expire_all()
    return db.session.scalar(db.select(User).where(User.email == email))


def test_create_user_makes_a_user_who_can_sign_in(app, runner, sign_in):
    result = _create(runner, "--email", "Ana.Silva@Example.com", "--password", TEST_PASSWORD,
                     "--role", "manager", "--team", "East", "--name", "Ana Silva")
    assert result.exit_code == 0, result.output
    assert "Created manager ana.silva@example.com" in result.output
    user = _user("ana.silva@example.com")
    assert user is not None
    assert (user.name, user.role, user.team.name, user.active) == ("Ana Silva", "manager", "East", True)
    assert sign_in(app.test_client(), "ana.silva@example.com").status_code == 302


def test_create_user_reuses_an_existing_team_whatever_its_case(app, runner):
    assert _create(runner, "--email", "a@example.com", "--password", TEST_PASSWORD, "--team", "East").exit_code == 0
    assert _create(runner, "--email", "b@example.com", "--password", TEST_PASSWORD, "--team", "east").exit_code == 0
    db.session.expire_all()
    assert [t.name for t in db.session.scalars(db.select(Team))] == ["East"]
    assert _user("b@example.com").role == "rep"  # the default role
    assert _user("b@example.com").name == "b"  # the default name


@pytest.mark.parametrize("args, message", [
    (["--email", "a@example.com", "--password", "short"], "password: Use at least 12 characters."),
    (["--email", "a@example.com", "--password", "password1234"], "password: This password is too common"),
    (["--email", "not-an-email", "--password", TEST_PASSWORD], "email:"),
])
def test_create_user_refuses_bad_input_with_exit_code_2(app, runner, args, message):
    result = _create(runner, *args)
    assert result.exit_code == 2
    assert message in result.output
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_create_user_refuses_an_email_already_in_use(app, runner, make_user):
    make_user(role="rep", email="taken@example.com")
    db.session.commit()
    result = _create(runner, "--email", "TAKEN@example.com", "--password", TEST_PASSWORD)
    assert result.exit_code == 2
    assert "email: A user with this email already exists." in result.output
    assert db.session.scalar(db.select(db.func.count(User.id))) == 1


def test_create_user_refuses_an_unknown_role(app, runner):
    result = _create(runner, "--email", "a@example.com", "--password", TEST_PASSWORD, "--role", "owner")
    assert result.exit_code == 2
    assert "owner" in result.output and "admin" in result.output  # names the bad role and the good ones
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_create_user_without_required_options_never_prompts(app, runner):
    result = runner.invoke(args=["leadflow", "create-user", "--email", "a@example.com"], input="")
    assert result.exit_code == 2
    assert "--password" in result.output
