"""Server-side speed of the home page ("/") at 100,000 leads, beside two baselines of the same run.

Run from the repository root:

    .venv/bin/python bench/bench_home.py --reuse /tmp/bench-dbs            # SQLite
    .venv/bin/python bench/bench_home.py --reuse /tmp/bench-dbs --database-url postgresql://postgres@127.0.0.1/NAME

The database is made and seeded as ``bench_pages.py`` makes it (the demo workspace; the same
``--reuse`` folder or PostgreSQL database serves both). Signed in as the demo admin, it times
the home page in each view (mine, everyone's), its htmx summary line, and, as baselines in the
same run: a bare Flask app answering a static body of the same size (what Flask and the test
client cost) and "My work" (``/tasks``), an existing page reading the same tasks. It prints
the SQL statements of one home-page request, slowest first. It writes no file.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pages import (  # noqa: E402  (sets the scratch instance folder before config loads)
    Baseline, _body_of_size, build_app, db_engine_dispose, migrate_and_seed, percentile, recording_statements,
    sign_in, time_requests,
)
from bench_databases import database_for, database_label  # noqa: E402

TARGET_MS = 50.0
PAGES = [  # (name, signed in as, address, headers)
    ("Home, mine (busiest rep)", "rep", "/", None),
    ("This month part, htmx (busiest rep)", "rep", "/home/month", {"HX-Request": "true"}),
    ("Home, mine (demo admin)", "admin", "/", None),
    ("Home, everyone's (demo admin)", "admin", "/?view=all", None),
    ("This month part, everyone's, htmx (demo admin)", "admin", "/home/month?view=all", {"HX-Request": "true"}),
    ("Home summary line, htmx (busiest rep)", "rep", "/home/today-summary", {"HX-Request": "true"}),
    ("My work (busiest rep, reference page)", "rep", "/tasks", None),
]


def busiest_rep_client(app):
    """A client signed in as the rep owning the most live leads (given the demo password here,
    in the benchmark's own database), and that rep's lead count."""
    from sqlalchemy import func, select

    from leadflow.accounts.models import User
    from leadflow.accounts.services import hash_password
    from leadflow.extensions import db
    from leadflow.leads.models import Lead
    from leadflow_demo import DEMO_LOGIN

    with app.app_context():
        user_id, email, owned = db.session.execute(
            select(User.id, User.email, func.count(Lead.id)).join(Lead, Lead.owner_id == User.id)
            .where(User.role == "rep", User.active.is_(True), Lead.deleted_at.is_(None))
            .group_by(User.id, User.email).order_by(func.count(Lead.id).desc()).limit(1)).one()
        db.session.execute(db.update(User).where(User.id == user_id).values(password_hash=hash_password(DEMO_LOGIN[1])))
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    token_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', token_page).group(1)
    response = client.post("/login", data={"email": email, "password": DEMO_LOGIN[1], "csrf_token": token})
    if response.status_code != 302:
        raise SystemExit(f"could not sign in as {email}")
    return client, owned


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--reuse", type=Path, metavar="DIR")
    parser.add_argument("--database-url", metavar="URL")
    args = parser.parse_args(argv)

    from leadflow.extensions import db

    with tempfile.TemporaryDirectory(prefix="leadflow-bench-home-") as folder:
        url, fresh, where = database_for(str(args.size), args.reuse or Path(folder), database_url=args.database_url,
                                         reuse=args.reuse is not None)
        app = build_app(url)
        print(f"== {args.size:,} leads on {database_label(url)} ({'seeding' if fresh else 'reusing ' + where})", flush=True)
        migrate_and_seed(app, args.size, seed=fresh)
        with app.app_context():
            engine = db.engine
        admin = app.test_client()
        sign_in(admin)
        rep, owned = busiest_rep_client(app)
        print(f"   the busiest rep owns {owned:,} live leads", flush=True)
        clients = {"admin": admin, "rep": rep}
        baseline = Baseline()
        rows = []
        statements = {}
        for name, who, url_path, headers in PAGES:
            client = clients[who]
            with recording_statements(engine) as recorded:
                response = client.get(url_path, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"GET {url_path} answered {response.status_code}")
            statements[name] = sorted(recorded, reverse=True)
            body = response.get_data()
            cpu: list[float] = []
            times = time_requests(client, [url_path], args.runs, args.warmup, headers, cpu=cpu)
            floor = baseline.measure(str(len(rows)), _body_of_size(body, len(body)), args.runs, args.warmup)
            rows.append((name, len(recorded), len(body), statistics.median(times), percentile(times, 95),
                         statistics.median(cpu), statistics.median(floor)))
        db_engine_dispose(app)

    print(f"\n| page | queries | bytes | median ms | p95 ms | CPU ms | bare Flask ms | vs My work |\n|---|---|---|---|---|---|---|---|")
    reference = rows[-1][3]
    for name, queries, size, median, p95, cpu, floor in rows:
        print(f"| {name} | {queries} | {size:,} | {median:.1f} | {p95:.1f} | {cpu:.1f} | {floor:.2f} | ×{median / reference:.2f} |")
    for name in (PAGES[0][0], PAGES[1][0], PAGES[3][0]):
        print(f"\nSQL of one request, {name} (ms, slowest first):")
        for ms, statement in statements[name][:8]:
            print(f"  {ms:7.2f}  {' '.join(statement.split())[:200]}")
    home = rows[0][3]
    print(f"\nHome, mine: median {home:.1f} ms (target < {TARGET_MS:.0f} ms): {'met' if home < TARGET_MS else 'MISSED'}")
    return 0 if home < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
