# Developer entry points. `make run` starts the whole stack locally; `make test` runs the
# suite. Both install what they need first: uv (when it is not on PATH) and the locked
# dependencies into .venv.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PORT ?= 8000
ARGS ?=
# pytest-xdist workers for `make test`, each with its own embedded services; most tests wait
# on processes and brokers rather than on a core, so more workers than cores pays.
TEST_WORKERS ?= 4
PYTHON ?= python3
VENV := $(CURDIR)/.venv
TOOLS := $(CURDIR)/.devstack/tools
# Where `make run` keeps its services' data and logs, and the env file manage.py reads.
DEVSTACK_DIR ?= $(CURDIR)/.devstack

# The uv on PATH, else our own copy in a small tools venv (installed on first use).
UV := $(or $(shell command -v uv 2>/dev/null),$(TOOLS)/bin/uv)

.PHONY: help install run manage test lint bench bench-standings bench-reads

help:
	@echo "make run      start everything (embedded PostgreSQL, Valkey, Kafka; web on PORT=$(PORT),"
	@echo "              consumer, fake traffic) and print where it is; Ctrl-C stops it all"
	@echo "make manage   manage.py against make run's stack: make manage ARGS='changepassword admin'"
	@echo "make test     run the test suite in TEST_WORKERS=4 processes (extra pytest"
	@echo "              arguments: make test ARGS='-k foo'; serially: ARGS='-n 0 tests/...')"
	@echo "make lint     ruff check and ruff format --check"
	@echo "make bench    run manage.py bench_ingest (extra arguments: ARGS=...)"
	@echo "make bench-standings  run manage.py bench_standings (10M deltas, kept in .devstack/)"
	@echo "make bench-reads      run manage.py bench_reads (1M players, kept in .devstack/; needs wrk)"
	@echo "make install  install uv if missing and the locked dependencies into .venv"

$(TOOLS)/bin/uv:
	@echo "uv is not on PATH: installing it into $(TOOLS)"
	@mkdir -p $(TOOLS)/bin
	if $(PYTHON) -m venv $(TOOLS) && $(TOOLS)/bin/python -m pip install --quiet \
	    --disable-pip-version-check uv; then :; \
	else \
	  $(PYTHON) -m pip install --user --quiet uv; \
	  ln -sf "$$($(PYTHON) -m site --user-base)/bin/uv" $@; \
	fi
	@$@ --version

install: $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen

# $(DEVSTACK_DIR)/env says where the stack listens: honcho gives it to every process (a
# checkout's own .env still wins), and manage.py reads it in another terminal.
run: install
	@DEVSTACK_DIR="$(DEVSTACK_DIR)" $(VENV)/bin/python -m devtools.devstack.env --web-port $(PORT)
	DEVSTACK_DIR="$(DEVSTACK_DIR)" PYTHONUNBUFFERED=1 VIRTUAL_ENV=$(VENV) PATH="$(VENV)/bin:$$PATH" \
	  exec $(VENV)/bin/honcho -f Procfile.dev -e "$(DEVSTACK_DIR)/env,.env" start -p $(PORT)

# manage.py finds make run's stack through $(DEVSTACK_DIR)/env by itself.
manage: install
	DEVSTACK_DIR="$(DEVSTACK_DIR)" $(VENV)/bin/python manage.py $(ARGS)

test: install
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist worksteal $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-local-benchmark-key}" DJANGO_DEVTOOLS=1 \
	  $(VENV)/bin/python manage.py bench_ingest $(ARGS)

bench-standings: install
	DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-local-benchmark-key}" DJANGO_DEVTOOLS=1 \
	  $(VENV)/bin/python manage.py bench_standings $(ARGS)

bench-reads: install
	DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-local-benchmark-key}" DJANGO_DEVTOOLS=1 \
	  $(VENV)/bin/python manage.py bench_reads $(ARGS)
