"""End-to-end harness: Playwright driving Debian's Chromium against a real server process.

One server (waitress, on 127.0.0.1 and a free port, its own SQLite file seeded with the
demo workspace) and one browser per test session. Every test gets a fresh browser
context, so cookies never leak between tests. When a test fails, a full-page
screenshot of its page is saved under ``test-artifacts/`` at the repository root.

Chromium comes from the system package manager (``apt-get install chromium-headless-shell``,
or ``chromium``); no browser is ever downloaded. Without either these tests are skipped, with
that reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.servers import free_port, stop_processes

REPO_ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"

DEMO_EMAIL = "admin@example.com"
DEMO_PASSWORD = "demo-pipeline-2024!"
DEMO_LEADS = 60
# Generous enough for a busy 2-core machine; a healthy run needs a fraction of it.
TIMEOUT_MS = 10_000

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    # Without these Chromium waits on network services that a closed network never answers.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SKIP_REASON = "Chromium not installed: apt-get install chromium-headless-shell"
# Variables of the surrounding test run that must not reach the server process:
# it uses its own SQLite file, never the suite's (possibly PostgreSQL) database.
SCRUBBED_ENV = ("DATABASE_URL", "TEST_DATABASE_URL", "SQLALCHEMY_DATABASE_URI", "FLASK_APP", "FLASK_DEBUG")


# Headless runs need no browser window: Debian's chromium-headless-shell (what Playwright itself
# runs headless) does the same work for about half the CPU of the full browser, which stays
# the fallback.
BROWSERS = ("chromium-headless-shell", "chromium")


def chromium_path() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name, path="/usr/bin") or shutil.which(name)
        if path:
            return path
    return None


def _is_e2e(item) -> bool:
    return E2E_DIR in Path(str(item.path)).resolve().parents


def pytest_collection_modifyitems(config, items):
    """Mark every test in this folder ``e2e``; skip them all, with the reason, without Chromium."""
    missing = chromium_path() is None
    for item in items:
        if not _is_e2e(item):
            continue
        item.add_marker(pytest.mark.e2e)
        if missing:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, save a full-page screenshot of the test's page before the page is closed."""
    outcome = yield
    report = outcome.get_result()
    if report.when not in ("setup", "call") or not report.failed or not _is_e2e(item):
        return
    pages = [v for k, v in getattr(item, "funcargs", {}).items() if k.endswith("page") and hasattr(v, "screenshot")]
    extra = getattr(item, "_e2e_pages", [])
    for page in pages + [p for p in extra if p not in pages]:
        if page.is_closed():
            continue
        ARTIFACTS_DIR.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid).strip("_")
        target = ARTIFACTS_DIR / f"{name}-{len(list(ARTIFACTS_DIR.glob(name + '*')))}.png"
        try:
            page.screenshot(path=str(target), full_page=True, timeout=5000)
        except Exception as exc:  # the browser may be what failed; the report matters more
            report.sections.append(("e2e screenshot", f"could not save a screenshot: {exc}"))
        else:
            report.sections.append(("e2e screenshot", f"saved {target.relative_to(REPO_ROOT)} (page {page.url})"))


def _server_env(instance_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update({
        "LEADFLOW_CONFIG": "development",
        "LEADFLOW_INSTANCE": str(instance_dir),
        "PYTHONUNBUFFERED": "1",
        # Every browser test signs in from the same address, most as the same account; the
        # limits themselves have their own tests.
        "LOGIN_RATE_LIMIT": "300 per minute",
        "LOGIN_ACCOUNT_RATE_LIMIT": "1000 per hour",
    })
    return env


def _run_cli(args: list[str], env: dict, log) -> None:
    command = [sys.executable, "-m", "flask", "--app", "wsgi", *args]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    log.write(f"$ flask {' '.join(args)}\n{result.stdout}{result.stderr}\n")
    if result.returncode != 0:
        pytest.fail(f"`flask {' '.join(args)}` failed ({result.returncode}):\n{result.stdout}\n{result.stderr}",
                    pytrace=False)


def _wait_until_up(url: str, process: subprocess.Popen, log_path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}",
                        pytrace=False)
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not answer {url} within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}",
                pytrace=False)


@pytest.fixture(scope="session")
def live_instance(tmp_path_factory) -> Path:
    """The live server's instance folder (its SQLite database lives there)."""
    return tmp_path_factory.mktemp("e2e-instance")


@pytest.fixture(scope="session")
def live_db(live_instance, live_server):
    """Read the live server's own database: ``live_db("SELECT …", params) -> rows``."""
    import sqlite3

    def query(sql: str, params: tuple = ()) -> list[tuple]:
        connection = sqlite3.connect(live_instance / "leadflow.sqlite3", timeout=10)
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()

    return query


@pytest.fixture(scope="session")
def live_server(live_instance, sqlite_at_head):
    """Base URL of a real LeadFlow server with the demo workspace, for the whole session."""
    instance_dir = live_instance
    env = _server_env(instance_dir)
    log_path = instance_dir / "server.log"
    with open(log_path, "w") as log:
        sqlite_at_head(instance_dir / "leadflow.sqlite3")
        _run_cli(["leadflow", "seed-demo", "--leads", str(DEMO_LEADS)], env, log)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = open(log_path, "a")
    process = subprocess.Popen(  # BASE_URL: the embed script frames the form at that address
        [sys.executable, "-m", "waitress", "--host", "127.0.0.1", "--port", str(port), "wsgi:app"],
        cwd=REPO_ROOT, env={**env, "BASE_URL": base_url}, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_up(f"{base_url}/login", process, log_path)
        yield base_url
    finally:
        stop_processes([process])
        log.close()


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip(SKIP_REASON)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(browser, live_server, request):
    """``new_page(viewport=...)`` opens a page in a fresh context; closed after the test."""
    contexts = []
    request.node._e2e_pages = []

    def _open(**context_options):
        context = browser.new_context(base_url=live_server, **context_options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        request.node._e2e_pages.append(page)
        return page

    yield _open
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


def sign_in(page, email: str = DEMO_EMAIL, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the login form, as a person would."""
    from playwright.sync_api import expect

    page.goto("/login")
    page.get_by_label(re.compile(r"^Email")).fill(email)
    page.get_by_label(re.compile(r"^Password")).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("button", name="Sign out")).to_be_attached()


def drag_card(page, card, column) -> None:
    """Drag a board card onto another column with the mouse, as a person would (SortableJS
    runs in its fallback mode, so plain mouse events do it)."""
    dragged, over = card.element_handle(), column.element_handle()
    # The page is drawn before its scripts have run: a mouse that goes down on a card before
    # SortableJS is bound to both columns selects text instead of dragging. A person does not
    # drag within the first milliseconds; the test waits for the board to be ready instead.
    page.wait_for_function("([card, column]) => !!(card.closest('.cards') || {})._sortable && !!column._sortable",
                           arg=[dragged, over], timeout=10_000)
    box_from = card.bounding_box()
    box_to = column.bounding_box()
    page.mouse.move(box_from["x"] + 20, box_from["y"] + 15)
    page.mouse.down()
    page.mouse.move(box_from["x"] + 40, box_from["y"] + 30, steps=5)
    page.mouse.move(box_to["x"] + box_to["width"] / 2, box_to["y"] + 30, steps=15)
    # Like a person, hold the card over the column until it shows there: SortableJS checks
    # what is under the pointer every 50 ms, so on a busy machine a release right after the
    # last move could land before it noticed the column (and the card would go back).
    page.wait_for_function("([card, column]) => column.contains(card)", arg=[dragged, over], timeout=10_000)
    page.mouse.up()
