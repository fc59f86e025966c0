# LeadFlow: `make run` serves the app with a demo workspace, `make test` runs every test.
#
#   make run                  http://127.0.0.1:5000 (HOST=0.0.0.0 PORT=8000 to change)
#   make serve                production: needs SECRET_KEY; behind a proxy TRUST_PROXY=1 (see docs/DEPLOY.md);
#                             the scheduler runs in a process of its own beside the server
#   make serve WORKERS=4      several processes (gunicorn): PostgreSQL and RATELIMIT_STORAGE_URI=redis://…
#   make test                 pytest on SQLite (DATABASE_URL=postgresql://… for PostgreSQL)
#   make test PYTEST_ARGS="tests/accounts -x"
#   make test-reliability     load and faults against a real server, SMTP sink and schedulers (same databases)
#   make bench                pages, board and import on SQLite and PostgreSQL → docs/BENCHMARKS.md
#   make bench SIZES=1000 BENCH_RUNS=5   (PostgreSQL at BENCH_DATABASE_URL, NAME_<size> per size)
#   make bench BENCH_REUSE=/tmp/bench    keep the seeded databases and reuse them on the next run
#   make migration m="add lead source table"
#   make clean                caches and build leftovers (keeps .venv and instance/)
#   make distclean            also removes .venv

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
THREADS ?= 8
# make serve WORKERS=4: gunicorn with 4 processes (needs RATELIMIT_STORAGE_URI=redis://…, see docs/DEPLOY.md).
WORKERS ?= 1
PYTEST_ARGS ?=
SIZES ?= 1000 100000
BENCH_RUNS ?= 30
BENCH_DATABASE_URL ?= postgresql://postgres@127.0.0.1/leadflow_bench
# Links in e-mails start with BASE_URL: `make run` points it at the address it serves
# (127.0.0.1 when listening on every interface), unless BASE_URL is set already.
RUN_HOST := $(if $(filter 0.0.0.0 :: [::],$(HOST)),127.0.0.1,$(HOST))
RUN_BASE_URL := $(or $(BASE_URL),http://$(RUN_HOST):$(PORT))

# The instance folder holds the SQLite database; LEADFLOW_INSTANCE moves it.
LEADFLOW_INSTANCE ?= $(CURDIR)/instance
export LEADFLOW_INSTANCE

# Stamps in the venv remember which pyproject.toml was installed, so the
# install runs again only when pyproject.toml changes.
# `make serve` installs the app alone; `make run` adds the demo extra (Faker), which
# seeds the demo workspace; `make test` both, and the test tools.
INSTALL_STAMP := $(VENV)/.leadflow-installed
DEMO_INSTALL_STAMP := $(VENV)/.leadflow-installed-demo
TEST_INSTALL_STAMP := $(VENV)/.leadflow-installed-test

FLASK_DEV := LEADFLOW_CONFIG=development $(BIN)/flask --app wsgi

# The serving processes run with PYTHONOPTIMIZE=2 (make serve): their bytecode (.opt-2.pyc,
# which pip does not write) is compiled once here. Otherwise a process that may not write it
# (PYTHONDONTWRITEBYTECODE, a read-only install) compiles every module from source at each
# start, slower, and a worker keeps about half a MB more of the compiler's leftovers.
COMPILE_FOR_SERVING := $(BIN)/python -m compileall -q -j 0 -o 2 $(VENV)/lib leadflow config.py wsgi.py

# Tells how to sign in: the demo login while it still works, otherwise how to add a user.
define PRINT_LOGIN
from leadflow import create_app
from leadflow.accounts.models import User
from leadflow.accounts.services import verify_password
from leadflow_demo import DEMO_LOGIN
from leadflow.extensions import db
with create_app().app_context():
    user = db.session.scalar(db.select(User).where(User.email == DEMO_LOGIN[0]))
    if user is not None and user.active and verify_password(user.password_hash, DEMO_LOGIN[1]):
        print("  Demo login:             %s / %s" % DEMO_LOGIN)
    else:
        print("  Sign in with an account of this workspace; to add one:")
        print("  LEADFLOW_CONFIG=development $(BIN)/flask --app wsgi leadflow create-user --email E --password P --role admin")
endef
export PRINT_LOGIN

.PHONY: help run serve install install-demo install-test test test-reliability bench migration clean distclean

help:
	@echo "make run        serve LeadFlow with a demo workspace on http://$(HOST):$(PORT)"
	@echo "make serve      serve in production (SECRET_KEY, DATABASE_URL; TRUST_PROXY=1 behind a proxy), the scheduler in its own process"
	@echo "make test       run the test suite (end-to-end tests need chromium-headless-shell or chromium)"
	@echo "make test-reliability   load, races, SMTP flapping and kill -9 against real processes"
	@echo "make bench      benchmarks on SQLite and PostgreSQL (SIZES, BENCH_DATABASE_URL), written to docs/BENCHMARKS.md"
	@echo "make migration m=\"message\"   autogenerate an Alembic revision"
	@echo "make clean      remove caches and build leftovers (distclean also removes .venv)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALL_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e .
	$(COMPILE_FOR_SERVING)
	@touch $@

$(DEMO_INSTALL_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[demo]'
	$(COMPILE_FOR_SERVING)
	@touch $@ $(INSTALL_STAMP)

$(TEST_INSTALL_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[test,demo]'
	$(COMPILE_FOR_SERVING)
	@touch $@ $(INSTALL_STAMP) $(DEMO_INSTALL_STAMP)

install: $(INSTALL_STAMP)

install-demo: $(DEMO_INSTALL_STAMP)

install-test: $(TEST_INSTALL_STAMP)

run: install-demo
	@mkdir -p "$(LEADFLOW_INSTANCE)"
	$(FLASK_DEV) db upgrade
	$(FLASK_DEV) leadflow seed-demo --if-empty
	@echo
	@echo "  LeadFlow is running at  http://$(HOST):$(PORT)  (links in e-mails: $(RUN_BASE_URL))"
	@LEADFLOW_CONFIG=development $(BIN)/python -c "$$PRINT_LOGIN"
	@echo "  Stop it with Ctrl+C."
	@echo
	BASE_URL="$(RUN_BASE_URL)" $(FLASK_DEV) leadflow serve --host $(HOST) --port $(PORT) --threads $(THREADS)

# Production: the settings come from the environment (LEADFLOW_CONFIG defaults to production).
# The scheduler runs in one process of its own, started and stopped with the server, so the
# serving processes hold no scheduler; MALLOC_ARENA_MAX=2 keeps threads from each keeping an
# arena of memory, PYTHONOPTIMIZE=2 loads the modules without their docstrings and
# PYTHONNODEBUGRANGES=1 without the columns only tracebacks mark (see docs/DEPLOY.md).
serve: install
	$(BIN)/flask --app wsgi db upgrade
	MALLOC_ARENA_MAX=$${MALLOC_ARENA_MAX:-2} PYTHONOPTIMIZE=$${PYTHONOPTIMIZE:-2} PYTHONNODEBUGRANGES=$${PYTHONNODEBUGRANGES:-1} $(BIN)/flask --app wsgi leadflow serve --host $(HOST) --port $(PORT) \
	  --threads $(THREADS) --workers $(WORKERS) --scheduler process

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Marked tests left out of `make test`; writes its figures to docs/RELIABILITY.md.
test-reliability: install-test
	$(BIN)/python -m pytest -m reliability tests/reliability -p no:cacheprovider $(PYTEST_ARGS)

# The page, board and import benchmarks on SQLite and on PostgreSQL (databases
# <BENCH_DATABASE_URL's name>_<size>, created when missing); writes docs/BENCHMARKS.md.
bench: install-test
	BENCH_DATABASE_URL="$(BENCH_DATABASE_URL)" $(BIN)/python bench/run_all.py --sizes $(SIZES) --runs $(BENCH_RUNS) \
		$(if $(BENCH_REUSE),--reuse $(BENCH_REUSE))

# Autogenerates against a throwaway SQLite database at the current head, so the
# state of your own database does not leak into the revision. Review the file!
migration: install
	@if [ -z "$(m)" ]; then echo 'Usage: make migration m="what changed"' >&2; exit 2; fi
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  env -u DATABASE_URL LEADFLOW_INSTANCE="$$tmp" $(FLASK_DEV) db upgrade && \
	  env -u DATABASE_URL LEADFLOW_INSTANCE="$$tmp" $(FLASK_DEV) db migrate -m "$(m)"

clean:
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
	rm -rf .pytest_cache build dist *.egg-info test-artifacts bench/results

distclean: clean
	rm -rf $(VENV)
