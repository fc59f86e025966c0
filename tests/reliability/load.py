"""A loaded LeadFlow server and the clients that drive it, for load and fault tests.

- ``loaded_server(tmp_path, database_url)``: a workspace made in a migrated database (an admin,
  a capture form and an API token, see ``prepare_workspace``) and ``flask --app wsgi leadflow
  serve`` running on it in production config, scheduler sweeps every second, rate limits off.
- ``Client``: one browser or program speaking HTTP to it (cookies kept; ``sign_in`` as the
  login page does, CSRF included).
- ``run_load`` / ``LoadRun``: many clients posting leads to the capture form and the API for
  a while, with races on one new email, one organization and tag name, and one existing lead,
  while a few people sign in and open the board; ``check_exactly_once`` compares every answer
  with what the database holds.

Used by ``tests/reliability`` (both databases) and ``tests/test_load_sqlite.py`` (a short run in
``make test``).
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.servers import REPO_ROOT, flask_cli, production_env, start_leadflow, stop_processes

ADMIN_EMAIL = "load-admin@example.com"
PASSWORD = "a sturdy pass phrase for the load test"
FORM_NAME = "Load"
API_SUBJECT = "Lead received through the API"
FORM_SUBJECT = f"Submitted Form “{FORM_NAME}”"
CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')

# Runs in a process of its own on the server's database: the capture form, the API token and
# any extra users. Prints one JSON line.
_SETUP = """
import json, os
from leadflow import create_app
from leadflow.accounts.models import User
from leadflow.accounts.services import create_user
from leadflow.accounts.system import system_actor
from leadflow.api.services import create_token
from leadflow.capture import forms, services
from leadflow.extensions import db
from leadflow.pipeline.services import ensure_default_pipeline

app = create_app()
with app.app_context():
    ensure_default_pipeline()
    admin = db.session.scalar(db.select(User).where(User.email == os.environ["LOAD_ADMIN"]))
    data = forms.blank_builder_input()
    data.update(name=os.environ["LOAD_FORM_NAME"], slug="load")
    for row in data["standard"]:
        row["include"] = row["key"] in ("first_name", "last_name", "email", "organization")
        row["required"] = row["key"] in ("first_name", "email")
    form = services.create_form(admin, data)
    _, plain = create_token(system_actor("Load test"), user=admin, name="Load test", scopes="read,write")
    users = [create_user(email=f"load-user-{i}@example.com", password=os.environ["LOAD_PASSWORD"],
                         role="manager").email for i in range(int(os.environ["LOAD_USERS"]))]
    db.session.commit()
    print(json.dumps({"slug": form.slug, "api_token": plain, "users": users}))
"""


@dataclass
class Workspace:
    slug: str  # the capture form, at /f/<slug>: first name and email required, last name, company
    api_token: str  # read and write, acting as the admin
    users: list[str]  # sign-in emails: the admin, then the extra managers; all share PASSWORD
    password: str = PASSWORD


def create_admin(env: dict) -> str:
    """The admin ``ADMIN_EMAIL`` in the (migrated) database of ``env``, made with ``flask
    leadflow create-user`` as an operator does; its email."""
    flask_cli(["leadflow", "create-user", "--email", ADMIN_EMAIL, "--password", PASSWORD, "--role", "admin"], env)
    return ADMIN_EMAIL


def prepare_workspace(env: dict, users: int = 0) -> Workspace:
    """In the (migrated) database of ``env``: an admin (``create_admin``), the default
    pipeline, the capture form "Load" at ``/f/load`` and an API token with read and write
    scopes, plus ``users`` managers who may sign in."""
    create_admin(env)
    made = subprocess.run([sys.executable, "-c", _SETUP], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=180, env={**env, "LOAD_ADMIN": ADMIN_EMAIL, "LOAD_PASSWORD": PASSWORD,
                                            "LOAD_FORM_NAME": FORM_NAME, "LOAD_USERS": str(users)})
    assert made.returncode == 0, made.stderr
    made_json = json.loads(made.stdout.strip().splitlines()[-1])
    return Workspace(made_json["slug"], made_json["api_token"], [ADMIN_EMAIL, *made_json["users"]])


@dataclass
class LoadedServer:
    port: int
    database_url: str
    workspace: Workspace
    log_path: Path
    threads: int
    env: dict
    process: subprocess.Popen

    def client(self) -> Client:
        return Client(self.port)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def loaded_env(tmp_path: Path, database_url: str, **settings) -> dict:
    """Production settings for a loaded server: sweeps every second, rate limits and the
    capture form's minimum fill time off; ``settings`` add or override."""
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    return production_env(instance, database_url, **{
        "RATELIMIT_ENABLED": "0", "CAPTURE_MIN_FILL_SECONDS": "0", "SCHEDULER_ENABLED": "1",
        "SCHEDULER_TICK_SECONDS": "1", **settings})


@contextmanager
def loaded_server(tmp_path: Path, database_url: str, *, threads: int = 16, users: int = 0, migrate: bool = False,
                  **settings) -> Iterator[LoadedServer]:
    """A LeadFlow server with a workspace to load (``prepare_workspace``), stopped on exit.

    ``database_url`` names an empty database, migrated unless ``migrate`` (then ``flask db
    upgrade`` runs first); ``threads`` are the server's (waitress); ``settings`` are
    environment variables of the server (``loaded_env``), such as ``SMTP_HOST``/``SMTP_PORT``
    or ``SQLITE_BUSY_TIMEOUT_MS``. The server's log is ``server.log`` in ``tmp_path``.
    ``server.process`` may be killed by the test; ``server.env`` starts more processes on
    the same database (``flask leadflow scheduler``, a second server)::

        with loaded_server(tmp_path, fresh_database, SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port) as server:
            client, slug = server.client(), server.workspace.slug
            client.post_form(slug, client.form_token(slug).json()["token"],
                             {"first_name": "Ada", "email": "ada@example.com"})
            client.post_api(server.workspace.api_token, {"first_name": "Bo", "email": "bo@example.com"})
    """
    env = loaded_env(tmp_path, database_url, **settings)
    if migrate:
        flask_cli(["db", "upgrade"], env)
    workspace = prepare_workspace(env, users=users)
    log_path = tmp_path / "server.log"
    process, port = start_leadflow(env, log_path, threads=threads)
    try:
        yield LoadedServer(port, database_url, workspace, log_path, threads, env, process)
    finally:
        stop_processes([process], timeout=20)


# --- HTTP ------------------------------------------------------------------------------------

@dataclass
class Reply:
    status: int  # 0: no answer (the connection failed)
    headers: dict[str, str]
    text: str
    seconds: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self):
        return json.loads(self.text)


class Client:
    """One client of the server: a new connection per request, cookies kept as a browser does
    (one client is one session)."""

    def __init__(self, port: int, timeout: float = 120):
        self.port, self.timeout = port, timeout
        self.cookies: dict[str, str] = {}
        self.csrf_token: str | None = None

    def request(self, method: str, path: str, *, json_body=None, form: dict | None = None,
                headers: dict | None = None) -> Reply:
        sent = {"Accept": "application/json" if json_body is not None else "text/html", **(headers or {})}
        body = None
        if json_body is not None:
            body, sent["Content-Type"] = json.dumps(json_body), "application/json"
        elif form is not None:
            body, sent["Content-Type"] = urlencode(form), "application/x-www-form-urlencoded"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        began = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read().decode("utf-8", "replace")
            for header in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(header).items():
                    self.cookies[name] = morsel.value
            headers_in = {k.lower(): v for k, v in response.getheaders()}
            return Reply(response.status, headers_in, data, time.monotonic() - began)
        except (OSError, http.client.HTTPException) as exc:
            return Reply(0, {}, repr(exc), time.monotonic() - began)
        finally:
            connection.close()

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        """As the login page does: its CSRF token, then the post; then the CSRF token that the
        signed-in pages give htmx (``hx-headers`` on ``<body>``) for later posts."""
        page = self.request("GET", "/login")
        match = CSRF_INPUT.search(page.text)
        assert page.status == 200 and match, f"no login form: {page.status} {page.text[:300]}"
        answer = self.request("POST", "/login", form={"email": email, "password": password,
                                                      "csrf_token": match.group(1)})
        assert answer.status == 302, f"sign-in refused: {answer.status} {answer.text[:300]}"
        account = self.request("GET", "/account")
        match = re.search(r'"X-CSRFToken": "([^"]+)"', account.text)
        assert account.status == 200 and match, f"no CSRF token when signed in: {account.status}"
        self.csrf_token = match.group(1)

    def htmx_post(self, path: str, form: dict) -> Reply:
        return self.request("POST", path, form=form, headers={"X-CSRFToken": self.csrf_token, "HX-Request": "true"})

    def form_token(self, slug: str) -> Reply:
        """``GET /f/<slug>/token``, as a site posting JSON to the form does first."""
        return self.request("GET", f"/f/{slug}/token")

    def post_form(self, slug: str, token: str, values: dict) -> Reply:
        return self.request("POST", f"/f/{slug}", json_body={**values, "form_token": token})

    def post_api(self, api_token: str, values: dict, idempotency_key: str | None = None) -> Reply:
        headers = {"Authorization": f"Bearer {api_token}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return self.request("POST", "/api/v1/leads", json_body=values, headers=headers)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` 0.5 for the median); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def database_engine(database_url: str):
    return create_engine(database_url, poolclass=NullPool)


# --- the load ----------------------------------------------------------------------------------

@dataclass
class Sent:
    """One lead posted: ``marker`` (its last name) is unique to the request, so the timeline
    entry its intake writes can be told from every other."""
    kind: str  # fresh | invalid | race | seed | update
    channel: str  # form | api
    email: str
    marker: str
    organization: str | None
    tags: list[str]
    reply: Reply


@dataclass
class LoadRun:
    sent: list[Sent] = field(default_factory=list)
    # Requests that are not lead posts (form tokens, sign-ins, the board): (what, reply).
    side_requests: list[tuple[str, Reply]] = field(default_factory=list)
    seconds: float = 0.0
    race_rounds: int = 0
    update_rounds: int = 0
    signers: int = 0
    load_average: float = 0.0  # of the machine (one minute), as the load ended
    crashes: list[str] = field(default_factory=list)  # exceptions in the client threads
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: Sent) -> None:
        with self.lock:
            self.sent.append(item)

    def statuses(self) -> Counter:
        """Of the lead posts."""
        return Counter(s.reply.status for s in self.sent)

    def side_failures(self) -> list[tuple[str, Reply]]:
        return [(what, reply) for what, reply in self.side_requests if reply.status != SIDE_EXPECTED[what]]


SIDE_EXPECTED = {"form token": 200, "sign-in page": 200, "sign-in": 302, "board": 200}


def _variant(text_: str, i: int) -> str:
    """The same name as different people type it: the normalised form is the same."""
    return (text_, text_.upper(), text_.title())[i % 3]


def _email_variant(local: str, i: int) -> str:
    return f"{local}@{('example.com', 'EXAMPLE.com', 'Example.Com')[i % 3]}"


class _Load:
    def __init__(self, server: LoadedServer, run: LoadRun, seconds: float, racers: int, updaters: int):
        self.server, self.run = server, run
        self.workspace = server.workspace
        self.began = time.monotonic()
        self.deadline = self.began + seconds
        self.race = {"round": -1, "stop": False}
        self.update = {"round": -1, "stop": False}
        self.race_barrier = threading.Barrier(racers, action=self._next_race) if racers else None
        self.update_barrier = threading.Barrier(updaters, action=self._next_update) if updaters else None

    def send(self, client: Client, kind: str, channel: str, email: str, marker: str, *,
             organization: str | None = None, tags: list[str] | None = None, token: str | None = None,
             extra: dict | None = None) -> Sent | None:
        values = {"first_name": "Load", "last_name": marker, "email": email, **(extra or {})}
        if organization:
            values["organization"] = organization
        if channel == "form":
            if token is None:
                token = self.fetch_token(client)
                if token is None:
                    return None
            reply = client.post_form(self.workspace.slug, token, values)
        else:
            if tags:
                values["tags"] = tags
            reply = client.post_api(self.workspace.api_token, values)
        item = Sent(kind, channel, email, marker, organization, (tags or []) if channel == "api" else [], reply)
        self.run.add(item)
        return item

    def side(self, what: str, reply: Reply) -> Reply:
        with self.run.lock:
            self.run.side_requests.append((what, reply))
        return reply

    def fetch_token(self, client: Client) -> str | None:
        reply = self.side("form token", client.form_token(self.workspace.slug))
        return reply.json()["token"] if reply.status == 200 else None

    def _next_race(self) -> None:
        if time.monotonic() >= self.deadline:
            self.race["stop"] = True
        else:
            self.race["round"] += 1

    def _next_update(self) -> None:
        if time.monotonic() >= self.deadline:
            self.update["stop"] = True
            return
        self.update["round"] += 1
        r = self.update["round"]
        # The lead the round's clients update at once: made (through the API) before they start.
        self.send(Client(self.server.port), "seed", "api", f"existing-{r}@example.com", f"seed-{r}",
                  organization=f"Existing Org {r}", tags=["existing"])

    def _in_rounds(self, channel: str, barrier: threading.Barrier, state: dict, post) -> None:
        """Round after round: get ready (a form token), wait for the group, ``post(client, round,
        token)`` at the same moment as the others."""
        client = Client(self.server.port)
        while True:
            token = self.fetch_token(client) if channel == "form" else None
            barrier.wait(timeout=300)
            if state["stop"]:
                return
            if channel == "api" or token is not None:
                post(client, state["round"], token)

    def racer(self, i: int) -> None:
        """Each round, every racer posts the same new email at the same moment, with one new
        organization name and one new tag name, half through the form and half the API."""
        channel = ("form", "api")[i % 2]
        self._in_rounds(channel, self.race_barrier, self.race, lambda client, r, token: self.send(
            client, "race", channel, _email_variant(f"race-{r}", i), f"race-{r}-{i}",
            organization=_variant(f"race org {r}", i), tags=[_variant(f"race-tag-{r}", i)], token=token))

    def updater(self, i: int) -> None:
        """Each round, every updater changes the round's existing lead at the same moment: the
        API adds a tag of its own, the form is a known visitor sending the form again."""
        channel = ("api", "form")[i % 2]
        self._in_rounds(channel, self.update_barrier, self.update, lambda client, r, token: self.send(
            client, "update", channel, _email_variant(f"existing-{r}", i), f"update-{r}-{i}",
            tags=[f"update-{r}-{i}"], token=token))

    def fresh(self, i: int) -> None:
        """New leads as fast as the answers come, with organization and tag names shared by
        every client for two seconds; one post in ten is invalid and must save nothing."""
        client, n = Client(self.server.port), 0
        while time.monotonic() < self.deadline:
            channel = ("form", "api")[(i + n) % 2]
            bucket = int((time.monotonic() - self.began) / 2)
            email = _email_variant(f"fresh-{i}-{n}", n)
            if n % 10 == 3:  # the API refuses the phone, the form the missing first name
                self.send(client, "invalid", channel, email, f"invalid-{i}-{n}",
                          extra={"phone": "12"} if channel == "api" else {"first_name": ""})
            else:
                self.send(client, "fresh", channel, email, f"fresh-{i}-{n}",
                          organization=_variant(f"shared org {bucket}", n + i),
                          tags=[_variant(f"shared-tag-{bucket}", n + i)])
            n += 1

    def signer(self, i: int) -> None:
        """Someone signing in (a new browser session each time) while the leads arrive, then
        opening the board ten times, a moment apart (a sign-in hashes the password: hundreds
        of them would measure argon2, not the database)."""
        while time.monotonic() < self.deadline:
            client = Client(self.server.port)
            match = CSRF_INPUT.search(self.side("sign-in page", client.request("GET", "/login")).text)
            if match is None:
                continue
            answer = self.side("sign-in", client.request("POST", "/login", form={
                "email": self.workspace.users[i % len(self.workspace.users)], "password": self.workspace.password,
                "csrf_token": match.group(1)}))
            for _ in range(10 if answer.status == 302 else 0):
                self.side("board", client.request("GET", "/pipeline"))
                time.sleep(0.2)

    def guarded(self, role, i: int) -> None:
        try:
            role(i)
        except threading.BrokenBarrierError:
            pass  # another client of the group failed; its exception is kept
        except Exception as exc:  # noqa: BLE001 — reported by check_exactly_once
            with self.run.lock:
                self.run.crashes.append(f"{role.__name__} {i}: {exc!r}")
            for barrier in (self.race_barrier, self.update_barrier):
                if barrier is not None:
                    barrier.abort()


def run_load(server: LoadedServer, *, clients: int = 50, seconds: float = 60.0, racers: int = 20,
             updaters: int = 10, signers: int = 4) -> LoadRun:
    """``clients`` threads work for ``seconds``: ``racers`` of them race on one new email per
    round, ``updaters`` on one existing lead per round, ``signers`` sign in and open the board
    again and again, the rest post new leads."""
    fresh = clients - racers - updaters - signers
    assert fresh >= 0
    run = LoadRun(signers=signers)
    load = _Load(server, run, seconds, racers, updaters)
    roles = [load.racer] * racers + [load.updater] * updaters + [load.signer] * signers + [load.fresh] * fresh
    threads = [threading.Thread(target=load.guarded, args=(role, i)) for i, role in enumerate(roles)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 600)
    run.seconds = time.monotonic() - load.began
    run.load_average = os.getloadavg()[0]
    run.race_rounds, run.update_rounds = load.race["round"] + 1, load.update["round"] + 1
    return run


# --- what the database holds afterwards ------------------------------------------------------

def _key(name: str) -> str:
    return " ".join(name.split()).lower()


@dataclass
class Holdings:
    leads: dict[str, list[int]]  # live leads by email key
    lead_orgs: dict[int, int | None]
    lead_tags: dict[int, set[str]]  # tag keys
    orgs: dict[str, list[int]]  # live organizations by normalised name
    tags: dict[str, list[int]]  # tags by normalised name
    intakes: Counter  # marker → intake timeline entries
    intake_leads: dict[str, set[int]]  # marker → the leads they are on


ARRIVALS_TIMEOUT = 60  # seconds the server's sweep may take to run the arrivals left at the end


def read_holdings(database_url: str) -> Holdings:
    """What the database holds once the server (still running) has run every new lead's
    arrival: an API or capture lead's submission entry is written by the ``lead_arrivals``
    sweep after the create's commit, so the last requests' entries may still wait on their
    arrival rows when the load stops (waiting there, not lost)."""
    engine = database_engine(database_url)
    try:
        with engine.connect() as conn:
            deadline = time.monotonic() + ARRIVALS_TIMEOUT
            while (waiting := conn.execute(text("SELECT count(*) FROM lead_arrivals")).scalar()) and \
                    time.monotonic() < deadline:
                conn.rollback()
                time.sleep(0.2)
            assert not waiting, f"{waiting} arrivals still waiting {ARRIVALS_TIMEOUT} s after the load stopped"
            conn.rollback()
            leads, lead_orgs = defaultdict(list), {}
            for lead_id, email, org_id in conn.execute(text(
                    "SELECT id, email, organization_id FROM leads WHERE deleted_at IS NULL AND email IS NOT NULL")):
                leads[email.lower()].append(lead_id)
                lead_orgs[lead_id] = org_id
            lead_tags = defaultdict(set)
            for lead_id, name in conn.execute(text(
                    "SELECT lt.lead_id, t.name FROM lead_tags lt JOIN tags t ON t.id = lt.tag_id")):
                lead_tags[lead_id].add(_key(name))
            orgs, tags = defaultdict(list), defaultdict(list)
            for org_id, name in conn.execute(text("SELECT id, name FROM organizations WHERE deleted_at IS NULL")):
                orgs[_key(name)].append(org_id)
            for tag_id, name in conn.execute(text("SELECT id, name FROM tags")):
                tags[_key(name)].append(tag_id)
            intakes, intake_leads = Counter(), defaultdict(set)
            for lead_id, details in conn.execute(text("SELECT lead_id, details FROM activities WHERE subject IN "
                                                      "(:api, :form)"), {"api": API_SUBJECT, "form": FORM_SUBJECT}):
                details = json.loads(details) if isinstance(details, str) else details
                marker = ((details or {}).get("values") or {}).get("last_name")
                intakes[marker] += 1
                intake_leads[marker].add(lead_id)
    finally:
        engine.dispose()
    return Holdings(dict(leads), lead_orgs, dict(lead_tags), dict(orgs), dict(tags), intakes, dict(intake_leads))


def check_exactly_once(run: LoadRun, held: Holdings) -> list[str]:
    """Everything that contradicts "each successful answer saved once, each error saved
    nothing" (empty when all is well):

    - an answer that is a 5xx other than a 503 with Retry-After, or no answer at all; a sign-in,
      board page or form token that is neither what it should be nor such a 503;
    - two live leads with one email, two live organizations or tags with one name;
    - a request answered 2xx whose submission is not on its email's lead exactly once, or
      one answered with an error that left a lead or a timeline entry behind;
    - a successful post whose organization or tag is missing from its lead (a lost update);
    - a client thread that crashed.
    """
    problems = [f"client crashed: {c}" for c in run.crashes]
    for item in run.sent:
        status = item.reply.status
        if status == 0 or (status >= 500 and status != 503):
            problems.append(f"{item.kind} {item.channel} {item.marker}: {status} {item.reply.text[:300]}")
        elif status == 503 and not item.reply.headers.get("retry-after", "").isdigit():
            problems.append(f"{item.marker}: 503 without Retry-After")
    for what, reply in run.side_failures():
        if reply.status != 503 or not reply.headers.get("retry-after", "").isdigit():
            problems.append(f"{what}: {reply.status} {reply.text[:300]}")
    problems += [f"{len(ids)} live leads for {email}" for email, ids in held.leads.items() if len(ids) > 1]
    problems += [f"{len(ids)} live organizations named {name!r}" for name, ids in held.orgs.items() if len(ids) > 1]
    problems += [f"{len(ids)} tags named {name!r}" for name, ids in held.tags.items() if len(ids) > 1]

    saved_emails = {item.email.lower() for item in run.sent if item.reply.ok}
    for item in run.sent:
        email = item.email.lower()
        leads = held.leads.get(email, [])
        entries = held.intakes[item.marker]
        if item.reply.ok:
            if len(leads) != 1:
                problems.append(f"{item.marker} answered {item.reply.status}, but {len(leads)} leads for {email}")
                continue
            if entries != 1 or held.intake_leads[item.marker] != set(leads):
                problems.append(f"{item.marker} answered {item.reply.status}; its submission is on the "
                                f"timeline {entries} times, of leads {held.intake_leads.get(item.marker)}")
            lead = leads[0]
            for tag in item.tags:
                if _key(tag) not in held.lead_tags.get(lead, set()):
                    problems.append(f"{item.marker} answered {item.reply.status}; its tag {tag!r} is not on the lead")
            if item.organization and held.lead_orgs.get(lead) not in held.orgs.get(_key(item.organization), []):
                problems.append(f"{item.marker} answered {item.reply.status}; its lead is not in {item.organization!r}")
        else:
            if entries:
                problems.append(f"{item.marker} answered {item.reply.status}, yet its submission was saved")
            if email not in saved_emails and leads:
                problems.append(f"{item.marker} answered {item.reply.status} and nothing else saved {email}, "
                                "yet it has a lead")
    return problems


def assert_load_went_well(run: LoadRun, held: Holdings, server_log: str, clients: int) -> None:
    """``check_exactly_once`` found nothing, both races ran, most posts were saved, and the
    server logged no traceback and no failed sweep."""
    problems = check_exactly_once(run, held)
    assert not problems, f"{len(problems)} problems, e.g.:\n" + "\n".join(problems[:30])
    assert run.race_rounds >= 1 and run.update_rounds >= 1, "the races did not run"
    assert sum(1 for s in run.sent if s.reply.ok) > clients, "hardly anything was saved"
    assert "Traceback" not in server_log and "sweep failed" not in server_log, server_log[-5000:]


def load_figures(run: LoadRun, held: Holdings, server: LoadedServer, clients: int) -> list[str]:
    """The run as a short Markdown table, for ``record_figures``."""
    posts = [s.reply.seconds for s in run.sent]
    statuses = run.statuses()
    sides = Counter(what for what, _ in run.side_requests)
    everything = statuses + Counter(reply.status for _, reply in run.side_requests)
    answered = ", ".join(f"{n} × {status}" for status, n in sorted(statuses.items()))
    kinds = Counter(s.kind for s in run.sent)
    duplicates = (sum(len(ids) - 1 for ids in held.leads.values())
                  + sum(len(ids) - 1 for ids in held.orgs.values()) + sum(len(ids) - 1 for ids in held.tags.values()))
    made = len({s.email.lower() for s in run.sent} & held.leads.keys())
    return [
        "| Figure | Value |",
        "|---|---|",
        f"| Clients, server threads | {clients} clients ({run.signers} of them signing in), {server.threads} "
        "threads (waitress), sweeps every second |",
        f"| Machine | {os.cpu_count()} CPUs for clients, server and database; load average {run.load_average:.1f} "
        "at the end |",
        f"| Duration | {run.seconds:.1f} s |",
        f"| Requests | {len(run.sent) + len(run.side_requests)}: {len(run.sent)} lead posts "
        f"({len(run.sent) / max(run.seconds, 0.001):.0f}/s); {sides['form token']} form tokens, "
        f"{sides['sign-in']} sign-ins, {sides['board']} board pages ({len(run.side_failures())} not as expected) |",
        f"| Of the posts | {kinds['fresh']} new leads, {kinds['invalid']} invalid, {kinds['race']} in "
        f"{run.race_rounds} rounds of one new email, {kinds['update'] + kinds['seed']} in {run.update_rounds} "
        "rounds on one existing lead |",
        f"| Statuses of the posts | {answered} |",
        f"| Server errors, all requests | {sum(n for status, n in everything.items() if status >= 500 and status != 503)}"
        f" × 5xx, {everything[503]} × 503 with Retry-After |",
        f"| Leads made | {made} |",
        f"| Duplicate leads, organizations, tags | {duplicates} |",
        latency_row("Latency of a post, p50 / p95 / max", posts),
        latency_row("… of a new lead's post", [s.reply.seconds for s in run.sent if s.kind in ("fresh", "invalid")]),
        latency_row("… of a post in a race (they queue for one lead)",
                     [s.reply.seconds for s in run.sent if s.kind in ("race", "update")]),
    ]


def latency_row(label: str, seconds: list[float]) -> str:
    """A Markdown row: p50, p95 and the longest of ``seconds``, in milliseconds."""
    return (f"| {label} | {percentile(seconds, 0.5) * 1000:.0f} ms / {percentile(seconds, 0.95) * 1000:.0f} ms / "
            f"{max(seconds, default=0) * 1000:.0f} ms |")
