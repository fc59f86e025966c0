"""`make bench`: the page, board, import, lead-create, reports, home page, memory and side-by-side benchmarks on SQLite and on PostgreSQL in one
command, their figures written to docs/BENCHMARKS.md (between the ``make_bench`` markers).

    .venv/bin/python bench/run_all.py --sizes 1000 100000 \\
        --database-url postgresql://postgres@127.0.0.1/leadflow_bench

Each script runs in its own process (as it would by hand) with ``--no-write`` where it has
one; this reads the Markdown each prints, keeps every table with its same-run baseline
ratio, and adds a table of PostgreSQL's median over SQLite's for every row both measured.
On PostgreSQL each size gets a database ``NAME_<size>`` (``bench_databases.py``), made anew.

``--reuse DIR`` (``make bench BENCH_REUSE=DIR``) passes ``--reuse DIR`` to every script that
takes it: the SQLite files in DIR and the PostgreSQL databases ``NAME_<size>`` and
``NAME_reports`` are seeded by the first run and kept, so a later run skips the seeding
(minutes at 100,000 leads and a million activities). The lead-create benchmark adds its leads
to the kept databases; the import and memory benchmarks always start empty.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
DOC = REPO_ROOT / "docs" / "BENCHMARKS.md"
START, END = "<!-- make_bench:start -->", "<!-- make_bench:end -->"
VALUE_COLUMNS = ("median ms", "seconds", "CPU median ms")
BOTH = "PostgreSQL over SQLite, side by side"  # a benchmark that runs both databases itself  # the writes benchmark: CPU per create


def commands(sizes: list[int], runs: int, warmup: int, import_rows: int) -> list[tuple[str, list[str]]]:
    sized = ["--sizes", *map(str, sizes), "--runs", str(runs), "--warmup", str(warmup)]
    return [("Pages", ["bench_pages.py", *sized]),
            ("Board", ["bench_board.py", *sized, "--board-runs", str(runs)]),
            ("Import", ["bench_import.py", "--rows", str(import_rows), "--runs", "1", "--no-write"]),
            ("Writes", ["bench_writes.py", *sized, "--no-write"]),
            ("Reports", ["bench_reports.py", "--runs", str(min(runs, 10)), "--warmup", str(min(warmup, 2)),
                         "--no-write"]),
            ("Home page", ["bench_home.py", "--size", str(max(sizes)), "--runs", str(runs), "--warmup", str(warmup)]),
            ("Memory", ["bench_memory.py", "--leads", str(min(sizes)), "--requests", "50"]),
            # Runs SQLite and PostgreSQL itself, requests alternating: once, given PostgreSQL.
            (BOTH, ["bench_parity.py", *sized])]


# The scripts that can reuse a seeded database (``--reuse DIR``).
REUSABLE = {"bench_pages.py", "bench_board.py", "bench_writes.py", "bench_reports.py", "bench_home.py",
            "bench_parity.py"}


def run(script_args: list[str], database_url: str | None, reuse: Path | None = None) -> str:
    argv = [sys.executable, str(HERE / script_args[0]), *script_args[1:]]
    if reuse is not None and script_args[0] in REUSABLE:
        argv += ["--reuse", str(reuse)]
    if database_url:
        argv += ["--database-url", database_url]
    print("$", " ".join(argv[1:]), flush=True)
    done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True)
    sys.stdout.write(done.stdout[-3000:])
    if "Traceback" in done.stderr or done.returncode not in (0, 1):  # 1: a target missed, still figures
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{script_args[0]} failed (exit {done.returncode})")
    return report_part(done.stdout)


def report_part(stdout: str) -> str:
    """The Markdown the script printed last: from its "Run …" line on, without the trailers."""
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Run 20")]
    kept = lines[starts[-1]:] if starts else lines
    out = []
    for line in kept:
        if line.startswith(("Mapping:", "Wrote ", "<!-- ", "## SQL statements")):
            if line.startswith("## SQL statements"):
                break
            continue
        out.append("#" + line if line.startswith("#") else line)
    return "\n".join(out).strip()


def rows_of(markdown: str) -> dict[tuple[str, str], float]:
    """{(heading, row name): the row's median ms or seconds} of every table in ``markdown``."""
    found, heading, column = {}, "", None
    for line in markdown.splitlines():
        if line.startswith("#"):
            heading, column = line.lstrip("# ").strip(), None
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if column is None:
                column = next((cells.index(c) for c in VALUE_COLUMNS if c in cells), -1)
            elif column >= 0 and not set(cells[0]) <= set("-: ") and column < len(cells):
                try:
                    found[(heading, cells[0])] = float(cells[column].replace(",", "").split()[0])
                except (ValueError, IndexError):
                    pass
        else:
            column = None if not line.strip() else column
    return found


def comparable(heading: str) -> str:
    return heading.replace("(SQLite)", "").replace("(PostgreSQL)", "").strip()


# A heading naming a database's size ("3,106 leads (SQLite)"): the lead-create benchmark adds
# leads to reused databases, a different number on each, so sizes pair by their order.
SIZE_HEADING = re.compile(r"^[\d,]+ leads\b")


def by_size_order(rows: dict[tuple[str, str], float], sizes: list[int]) -> dict[tuple[str, str], float]:
    """``rows`` with each size heading named by the size asked for, in the order printed."""
    named, seen = {}, []
    for (heading, row), value in rows.items():
        if SIZE_HEADING.match(heading):
            if heading not in seen:
                seen.append(heading)
            index = seen.index(heading)
            if index < len(sizes):
                heading = f"{sizes[index]:,} leads"
        named[(heading, row)] = value
    return named


def ratio_table(results: dict, sizes: list[int]) -> list[str]:
    lines = ["| benchmark | section | row | SQLite | PostgreSQL | PostgreSQL / SQLite |",
             "|---|---|---|---:|---:|---:|"]
    for name in dict.fromkeys(n for n, _ in results):
        lite = {(comparable(h), r.replace("(SQLite file)", "").replace("(SQLite)", "")): v
                for (h, r), v in by_size_order(rows_of(results.get((name, "SQLite"), "")), sizes).items()}
        for (heading, row), value in by_size_order(rows_of(results.get((name, "PostgreSQL"), "")), sizes).items():
            key = (comparable(heading), row.replace("(PostgreSQL)", ""))
            if key in lite and lite[key] > 0 and "bare" not in row:
                lines.append(f"| {name} | {key[0]} | {row} | {lite[key]:,.2f} | {value:,.2f} | "
                             f"×{value / lite[key]:.2f} |")
    return lines


def document(results: dict, args) -> str:
    lines = [START, "## `make bench`: SQLite and PostgreSQL", "",
             f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC with `make bench SIZES=\"{' '.join(map(str, args.sizes))}\"` "
             f"({args.runs} timed runs a request, import of {args.import_rows:,} rows); load average (1 min) "
             f"{os.getloadavg()[0]:.1f} at the end. Each table's ratio column is the same-run baseline "
             "(a bare Flask app serving a static body of the same size, or Python's bare `sqlite3` for the "
             "import); the machine is shared, so compare ratios between runs, not milliseconds.", "",
             "### PostgreSQL / SQLite", "",
             "Median milliseconds (import: seconds) of each request both databases ran, each size as "
             "asked for (a reused database holds the leads the lead-create benchmark added: its own "
             "count is in its table); the target is ×1.5 or less on every benchmarked page.", "",
             *ratio_table(results, args.sizes), ""]
    for (name, database), text in results.items():
        lines += [f"### {name} · {database}", "", text, ""]
    lines.append(END)
    return "\n".join(lines) + "\n"


def write(text: str) -> None:
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    if START in current and END in current:
        current = current[:current.index(START)] + text + current[current.index(END) + len(END):].lstrip("\n")
    else:
        current = current.rstrip("\n") + "\n\n" + text
    DOC.write_text(current, encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--import-rows", type=int, help="rows of the import benchmark (default: the largest size)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1/leadflow_bench")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--reuse", type=Path, metavar="DIR",
                        help="keep the seeded databases (SQLite files in DIR, PostgreSQL NAME_<size>) and reuse them")
    parser.add_argument("--no-write", action="store_true", help="print, do not rewrite docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    args.import_rows = args.import_rows or max(args.sizes)
    databases = [("SQLite", None)] + ([] if args.sqlite_only else [("PostgreSQL", args.database_url)])
    results = {}
    for name, script_args in commands(args.sizes, args.runs, args.warmup, args.import_rows):
        if name == BOTH:
            if not args.sqlite_only:
                results[(name, "SQLite and PostgreSQL")] = run(script_args, args.database_url, args.reuse)
            continue
        for database, url in databases:
            results[(name, database)] = run(script_args, url, args.reuse)
    text = document(results, args)
    if args.no_write:
        print(text)
    else:
        write(text)
        print(f"\nWrote {DOC.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
