"""The home page as each person sees it: what is due, the month's figures, the view switch."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from leadflow.activities.models import Task
from leadflow.dashboard import views
from leadflow.extensions import db
from leadflow.leads.models import Lead

from tests.dashboard.conftest import NOW


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch):
    monkeypatch.setattr(views, "utcnow", lambda: NOW)


SUMMARY_LINE = re.compile(r'<p id="today-summary".*?</p>', re.S)


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_rep_sees_their_day_and_month(world, login_as):
    _, client = login_as(world.ann)
    first = client.get("/").text
    # "This month" is asked for once the page shows (a plain link without script).
    assert 'hx-get="/home/month" hx-trigger="load"' in first and 'href="/home/month"' in first
    page = client.get("/home/month").text
    text = _text(page)
    assert "2 overdue · 2 due later today · 2 hot leads with no next step · 2 waiting for a first response" in text
    for shown in ("Task t1", "Task t2", "Task t3", "Task t4"):
        assert shown in text
    for hidden in ("Task t5", "Task t6", "Task t7", "Task t8", "Task t9"):
        assert hidden not in text
    assert "4,320 min since it arrived" in text and "90 min since it arrived" in text
    assert 'id="won-value">$1,550<' in page and "+ £100 without a rate" in text
    assert "3 won · last month $500 from 2" in text
    assert 'id="median-response">25 min<' in page and "last month 5 min" in text
    assert 'id="weighted-pipeline">$622<' in page and "end of last month $222" in text
    # Charts are SVG with a text alternative naming each month.
    assert page.count('<svg class="sparkline" role="img"') == 3
    assert "<title>Won value, last 6 months: Jul 2026 $0; Aug 2026 $0; Sep 2026 $0; Oct 2026 $0; Nov 2026 $500; Dec 2026 $1,550</title>" in page
    assert 'id="home-view"' not in page  # a rep has no view to switch to


def test_rep_asking_for_the_team_view_gets_their_own_with_a_message(world, login_as):
    _, client = login_as(world.ann)
    text = _text(client.get("/?view=team").text)
    assert "Only managers and admins can see a team's work: showing yours." in text
    assert "Task t1" in text and "Task t8" not in text


def test_manager_switches_to_the_team_in_the_address(world, login_as):
    _, client = login_as(world.meg)
    page = client.get("/?view=team").text
    assert '<option value="team" selected>My team</option>' in page
    text = _text(page)
    assert "Task t8" in text and "Task t1" in text and "Task t9" not in text
    assert "3 overdue · 1 due later today" in text
    mine = _text(client.get("/").text)
    assert "0 overdue · 0 due later today" in mine and "Task t8" not in mine


def test_the_switch_answers_htmx_with_the_home_content_alone(world, login_as):
    _, client = login_as(world.admin, htmx=True)
    response = client.get("/?view=all")
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert response.text.lstrip().startswith('<div id="home"') and "<html" not in response.text
    assert "Task t9" in _text(response.text)


def test_no_tasks_today_says_what_to_plan(login_as, make_lead):
    rep, client = login_as("rep")
    for n in range(4):
        make_lead(owner_id=rep.id, first_name=f"Quiet{n}")
    text = _text(client.get("/").text)
    assert "No tasks due today. Plan the next step for 4 leads with none: see them on My work" in text
    assert 'href="/tasks#work-no-next-step"' in client.get("/").text


def test_done_in_place_from_home_and_the_summary_follows(world, login_as):
    _, client = login_as(world.ann, htmx=True)
    page = client.get("/", headers={"HX-Request": "false"}).text
    form = re.search(r'hx-post="(/tasks/%d/complete)" hx-target="#task-%d"' % (world.tasks["t1"], world.tasks["t1"]), page)
    assert form, "the home page's task row posts to the task's own endpoint"
    version = re.search(r'id="task-%d".*?name="version" value="(\d+)"' % world.tasks["t1"], page, re.S).group(1)
    done = client.post(form.group(1), data={"version": version})
    assert done.status_code == 200 and "task-changed" in done.headers["HX-Trigger"]
    assert f'id="task-{world.tasks["t1"]}"' in done.text and "(done)" in done.text
    assert "hx-trigger=\"task-changed from:body\"" in page
    summary = _text(client.get("/home/today-summary").text)
    assert summary.strip().startswith("1 overdue · 2 due later today")


def test_home_page_query_count(world, login_as, count_queries):
    _, client = login_as(world.ann, htmx=True)
    client.get("/")
    with count_queries() as today_statements:
        assert client.get("/", headers={"HX-Request": "false"}).status_code == 200
    # the user; overdue and due today in one; hot, waiting and new in one
    assert len(today_statements) <= 3, "\n".join(today_statements)
    assert client.get("/home/month").status_code == 200  # the first one keeps the closed months
    with count_queries() as month_statements:
        assert client.get("/home/month").status_code == 200
    # the user; the kept months with this month's won leads, median first response and open
    # pipeline, in one statement (the settings, rates and open stages' weights are kept for the
    # process)
    assert len(month_statements) <= 2, "\n".join(month_statements)
    assert not any(s.startswith("SELECT stages.") for s in month_statements), "the open stages are kept"
    assert not any("stage_changes" in s for s in month_statements), "the history is not read again"
    # "Today"'s counts are capped; "This month" counts one month's answered arrivals (its median).
    counts = [s for s in today_statements
              if "count(" in s.lower() and "group by" not in s.lower() and "over (" not in s.lower()]
    assert all("LIMIT" in s.upper() for s in counts), "a count on the home page is capped"
    month_counts = [s for s in month_statements if "count(*)" in s.lower()]
    assert len(month_counts) == 1 and "leads.created_at < " in month_counts[0], "one count, of one month"


@pytest.mark.parametrize("who, view", [("ann", None), ("meg", "team"), ("admin", "all")])
def test_the_summary_line_alone_is_the_pages_line_from_one_statement(world, login_as, count_queries, who, view):
    _, client = login_as(getattr(world, who), htmx=True)
    asked = f"?view={view}" if view else ""
    page = client.get("/" + asked, headers={"HX-Request": "false"}).text
    with count_queries() as statements:
        line = client.get("/home/today-summary" + asked).text
    assert len(statements) <= 2, "\n".join(statements)  # the user; the four counts, no rows
    assert line.strip() == SUMMARY_LINE.search(page).group(0)


def test_the_summary_line_without_htmx_is_the_whole_page(world, login_as):
    _, client = login_as(world.ann)
    page = client.get("/home/today-summary").text
    assert "<html" in page and "Task t1" in _text(page)


def test_long_lists_are_counted_together_after_their_rows(login_as, make_lead, count_queries):
    rep, client = login_as("rep", htmx=True)
    for n in range(12):  # hot, new and waiting, none with a next step: three long lists
        lead = make_lead(owner_id=rep.id, first_name=f"Hot{n}")
        db.session.execute(db.update(Lead).where(Lead.id == lead.id).values(
            temperature="hot", created_at=NOW - timedelta(hours=1 + n)))
    db.session.commit()
    client.get("/")  # the open stages, kept for the process after
    with count_queries() as statements:
        page = client.get("/", headers={"HX-Request": "false"}).text
    text = _text(page)
    assert "0 overdue · 0 due later today · 12 hot leads with no next step · 12 waiting for a first response" in text
    assert "2 more hot leads" in text and "2 more waiting." in text
    assert "Plan the next step for 12 leads with none" in text
    counts = [s for s in statements if "count(" in s.lower()]
    # the hot, waiting and new lists' counts and the empty state's, in one statement
    assert len(counts) == 1 and counts[0].lower().count("count(") == 4, "\n".join(statements)
    assert len(statements) <= 6, "\n".join(statements)
    line = client.get("/home/today-summary").text
    assert line.strip() == SUMMARY_LINE.search(page).group(0)


@pytest.mark.parametrize("who, view", [("ann", "me"), ("meg", "team"), ("admin", "all")])
def test_each_view_reads_its_lists_in_two_statements(world, login_as, count_queries, who, view):
    # the two task lists in one statement, the three lead lists in another, each list in its order
    _, client = login_as(getattr(world, who), htmx=True)
    client.get(f"/?view={view}")
    with count_queries() as statements:
        page = client.get(f"/?view={view}", headers={"HX-Request": "false"}).text
    rows = [s for s in statements if not s.startswith("SELECT users.") and s not in statements.riding
            and "count(" not in s.lower()]
    assert len(rows) == 2, "\n".join(statements)
    assert len(statements) <= 4, "\n".join(statements)  # the user (or its check); the rows; the counts when a list runs long
    text = _text(page)
    shown = [(name, task_id) for name, task_id in world.tasks.items() if f"Task {name} " in text]
    due = dict(db.session.execute(db.select(Task.id, Task.due_at).where(Task.id.in_([i for _, i in shown]))).all())
    assert len(shown) > 2 and sorted(shown, key=lambda t: text.index(f"Task {t[0]} ")) == sorted(
        shown, key=lambda t: (due[t[1]], t[1])), "each task list in due order"


def test_everyones_and_a_persons_lists_write_their_limit_and_a_teams_bind_it(world, login_as, count_queries):
    # Everyone's and a person's lists run one plan for every request (PostgreSQL's generic plan
    # needs the LIMIT in the text; a person's lists walk indexes led by the person, good for
    # any owner); a team's keep it bound, so each team's request is planned for it.
    _, client = login_as(world.meg, htmx=True)
    for view, written in (("all", True), ("me", True), ("team", False)):
        client.get(f"/?view={view}")
        with count_queries() as statements:
            client.get(f"/?view={view}", headers={"HX-Request": "false"})
            client.get(f"/home/today-summary?view={view}")
        limited = [s for s in statements if "LIMIT" in s]
        assert limited and all(bool(re.search(r"LIMIT \d+", s)) is written for s in limited), "\n".join(limited)


def test_a_persons_home_page_statements_write_their_id(world, login_as, count_queries):
    # PostgreSQL then plans each person's lists, counts and month once and keeps the plan: with
    # the person bound, a person with few leads had them planned again on every request.
    _, client = login_as(world.ann, htmx=True)
    client.get("/")
    client.get("/home/month")
    with count_queries() as statements:
        client.get("/", headers={"HX-Request": "false"})
        client.get("/home/today-summary")
        client.get("/home/month")
    page = [s for s in statements if not s.startswith("SELECT users.") and s not in statements.riding]
    assert len(page) == 4 and all(re.search(rf"\.(owner_id|assignee_id) = {world.ann.id}\b", s) for s in page), (
        "\n".join(page))


def test_month_part_follows_the_view(world, login_as):
    _, client = login_as(world.meg, htmx=True)
    page = client.get("/?view=team").text
    assert 'hx-get="/home/month?view=team"' in page
    part = client.get("/home/month?view=team")
    assert part.text.lstrip().startswith('<section aria-labelledby="home-month"')
    assert "your team's leads" in _text(part.text)


@pytest.mark.parametrize("who, view, most", [("meg", "team", 2), ("admin", "all", 3)])
def test_this_month_of_a_team_and_everyone_is_read_in_one_statement(world, login_as, count_queries, who, view, most):
    # the user; the kept months with this month's won leads, median and (a team's) open
    # pipeline; everyone's pipeline is the board's kept totals, one statement more
    _, client = login_as(getattr(world, who), htmx=True)
    assert client.get(f"/home/month?view={view}").status_code == 200  # the first one keeps the closed months
    with count_queries() as statements:
        assert client.get(f"/home/month?view={view}").status_code == 200
    assert len(statements) <= most, "\n".join(statements)
    reads_this_month = [s for s in statements if "count(*)" in s.lower()]
    assert len(reads_this_month) == 1 and "UNION ALL" in reads_this_month[0], "\n".join(statements)
    assert "monthly_figures" in reads_this_month[0], "the kept months are read with this one"
