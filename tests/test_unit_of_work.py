"""A request commits once, in one place: the unit of work around the view (``leadflow.retry``).

No view commits: what a view writes is saved when it answers under 400 and rolled back when
it refuses (4xx) or fails; a busy commit runs the view again from the start, and what must
follow the commit (a job run inline) runs after it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from flask import flash, has_request_context, redirect, request
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from leadflow.errors import PermissionDenied, ValidationFailed
from leadflow.extensions import csrf, db
from leadflow.jobs import runner as jobs_runner
from leadflow.leads.models import Lead
from leadflow.retry import after_commit, in_unit_of_work
from leadflow.scoring.models import RescoreJob
from tests import factories

PACKAGE = Path(__file__).resolve().parent.parent / "leadflow"
# Every module that answers requests, and the helpers only they use. ``api/services.py``
# is not among them: its token check records the token's use in a commit of its own, on
# purpose (``replayable_commit``), so a refused request still shows that the token was used.
REQUEST_MODULES = sorted({*PACKAGE.glob("**/views.py"), *PACKAGE.glob("*/admin.py"), *PACKAGE.glob("web/*.py"),
                          PACKAGE / "sequences" / "public.py", PACKAGE / "api" / "auth.py",
                          PACKAGE / "api" / "http.py"})


def _commits(path: Path) -> list[str]:
    """``path:line`` of every ``….commit()`` call in the module at ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path}:{node.lineno}" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit"]


def test_no_view_commits_the_request_commits_once_after_it():
    assert len(REQUEST_MODULES) > 20, "the glob found the view modules"
    found = [where for path in REQUEST_MODULES for where in _commits(path)]
    assert found == [], "views flush; leadflow.retry commits once per request"


def test_the_commit_finder_finds_a_commit(tmp_path):
    module = tmp_path / "views.py"
    module.write_text("def save():\n    db.session.flush()\n    db.session.commit()\n")
    assert len(_commits(module)) == 1


def _route(app, path, view, methods=("POST",)):
    view.__name__ = path.strip("/").replace("/", "_").replace("-", "_")
    app.add_url_rule(path, view.__name__, csrf.exempt(view), methods=list(methods))


def _leads() -> int:
    return db.session.scalar(db.select(db.func.count(Lead.id)))


@pytest.fixture
def commits(app):
    """The request's commits (the outermost ones: a released savepoint is no commit; work that
    follows the request's unit, such as a new lead's arrival, is not the request's)."""
    seen = []

    def counted(session):
        if has_request_context() and request.path.startswith("/test/") and not session.in_nested_transaction() \
                and in_unit_of_work():
            seen.append(request.path)

    event.listen(db.session, "after_commit", counted)
    yield seen
    event.remove(db.session, "after_commit", counted)


@pytest.mark.own_app  # adds routes
def test_a_view_that_flushes_then_is_refused_or_answers_4xx_saves_nothing(app, client, commits):
    def refused():
        factories.make_lead(first_name="Ann", email="ann@example.com")
        db.session.flush()
        raise PermissionDenied("Not yours.")

    def form_again():
        factories.make_lead(first_name="Bea", email="bea@example.com")
        db.session.flush()
        return "Fix the fields marked below.", 422

    _route(app, "/test/refused", refused)
    _route(app, "/test/form-again", form_again)
    response = client.post("/test/refused")
    assert response.status_code == 403 and "Not yours." in response.text
    assert client.post("/test/form-again").status_code == 422
    assert _leads() == 0
    assert commits == []


@pytest.mark.own_app  # adds routes
def test_a_view_that_answers_under_400_is_saved_by_exactly_one_commit(app, client, commits):
    def save():
        factories.make_lead(first_name="Cleo", email="cleo@example.com")
        db.session.flush()
        factories.make_lead(first_name="Dora", email="dora@example.com")
        return redirect("/leads")

    _route(app, "/test/save", save)
    assert client.post("/test/save").status_code == 302
    assert _leads() == 2
    assert commits == ["/test/save"]


@pytest.mark.own_app  # adds routes
def test_a_busy_commit_runs_the_view_again_and_the_visitor_reads_its_message_once(app, client):
    calls = []

    def save():
        calls.append(1)
        factories.make_lead(first_name="Eve", email="eve@example.com")
        flash("Lead Eve saved.", "success")
        return redirect("/leads")

    def busy_once(session):
        if (has_request_context() and request.path == "/test/busy-commit" and len(calls) == 1
                and not session.in_nested_transaction()):  # the request's commit, after the flash
            raise OperationalError("COMMIT", {}, Exception("database is locked"))

    _route(app, "/test/busy-commit", save)
    event.listen(db.session, "before_commit", busy_once)
    try:
        response = client.post("/test/busy-commit")
    finally:
        event.remove(db.session, "before_commit", busy_once)
    assert response.status_code == 302
    assert len(calls) == 2, "the first attempt's commit failed, so the view ran again"
    assert _leads() == 1
    with client.session_transaction() as session:
        assert session["_flashes"] == [("success", "Lead Eve saved.")]


@pytest.mark.own_app  # adds routes
def test_work_after_the_commit_is_dropped_when_the_request_is_refused(app, client):
    ran = []

    def view():
        after_commit(lambda: ran.append(request.path))
        return ("refused", 422) if request.args.get("refuse") else "ok"

    _route(app, "/test/after", view)
    assert client.post("/test/after?refuse=1").status_code == 422
    assert ran == []
    assert client.post("/test/after").status_code == 200
    assert ran == ["/test/after"]


def test_outside_a_request_work_after_the_commit_runs_at_once(app):
    ran = []
    after_commit(lambda: ran.append(1))
    assert ran == [1]


@pytest.mark.real_commits  # another connection looks for the queued job while it runs
def test_a_job_started_by_a_request_runs_after_the_request_committed_its_row(app, login_as, monkeypatch):
    factories.make_lead(first_name="Fay", email="fay@example.com")
    _, client = login_as("admin")
    seen = []
    original = jobs_runner.run

    def run(name, job_id, *args, **kwargs):
        with db.engine.connect() as other:  # sees only what was committed
            seen.append(other.scalar(db.select(RescoreJob.status).where(RescoreJob.id == job_id)))
        return original(name, job_id, *args, **kwargs)

    monkeypatch.setattr(jobs_runner, "run", run)
    response = client.post("/settings/scoring/rescore")
    assert response.status_code in (302, 303)
    assert seen == ["queued"], "the job ran once, on its committed row"
    assert "Rescored 1 leads" in client.get("/settings/scoring").text
    assert db.session.scalar(db.select(RescoreJob.status)) == "done"


@pytest.mark.own_app  # adds a route
@pytest.mark.parametrize("headers", [{"HX-Request": "true"}, {"Accept": "application/json"}], ids=["htmx", "json"])
def test_refused_input_no_view_shows_itself_is_a_422_with_its_messages_and_saves_nothing(app, client, headers):
    def refuse():
        factories.make_lead(first_name="Gus", email="gus@example.com")
        raise ValidationFailed({"name": ["Give the list a name."]})

    _route(app, "/test/refuse-input", refuse)
    response = client.post("/test/refuse-input", headers=headers)
    assert response.status_code == 422
    assert "Give the list a name." in response.text
    assert _leads() == 0
