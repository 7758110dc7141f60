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

.PHONY: help install run manage test lint mypy-baseline bench bench-standings bench-reads \
	bench-push

help:
	@echo "make run      start everything (embedded PostgreSQL, Valkey, Kafka; web on PORT=$(PORT),"
	@echo "              consumer, fake traffic) and print where it is; Ctrl-C stops it all"
	@echo "make manage   manage.py against make run's stack: make manage ARGS='changepassword admin'"
	@echo "make test     run the test suite in TEST_WORKERS=4 processes (extra pytest"
	@echo "              arguments: make test ARGS='-k foo'; serially: ARGS='-n 0 tests/...')"
	@echo "make lint     ruff check, ruff format --check, mypy against mypy-baseline.txt (new"
	@echo "              errors fail), lint-imports, mkdocs build --strict (with a mkdocs.yml)"
	@echo "make mypy-baseline  rewrite mypy-baseline.txt with today's mypy errors (after a merge"
	@echo "              that moves modules, or once errors are fixed)"
	@echo "make bench    run manage.py bench_ingest (extra arguments: ARGS=...)"
	@echo "make bench-standings  run manage.py bench_standings (10M deltas, kept in .devstack/)"
	@echo "make bench-reads      run manage.py bench_reads (1M players, kept in .devstack/; needs wrk)"
	@echo "make bench-push       run manage.py bench_push (5,000 stream subscribers; uvicorn and granian)"
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

# --compile-bytecode: every process the suite and `make run` start imports Django, DRF,
# redis-py and Celery; where PYTHONDONTWRITEBYTECODE is set (this machine sets it) none of
# that is ever cached, and each start compiled them again (4 s of CPU a process; 1.4 s from
# .pyc). uv compiles what it installed once and then only checks timestamps (2 s).
install: $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --compile-bytecode

# $(DEVSTACK_DIR)/env says where the stack listens: honcho gives it to every process (a
# checkout's own .env still wins), and manage.py reads it in another terminal.
run: install
	@DEVSTACK_DIR="$(DEVSTACK_DIR)" $(VENV)/bin/python -m devtools.devstack.env --web-port $(PORT)
	DEVSTACK_DIR="$(DEVSTACK_DIR)" PYTHONUNBUFFERED=1 VIRTUAL_ENV=$(VENV) PATH="$(VENV)/bin:$$PATH" \
	  exec $(VENV)/bin/honcho -f Procfile.dev -e "$(DEVSTACK_DIR)/env,.env" start -p $(PORT)

# manage.py finds make run's stack through $(DEVSTACK_DIR)/env by itself.
manage: install
	DEVSTACK_DIR="$(DEVSTACK_DIR)" $(VENV)/bin/python manage.py $(ARGS)

# PYTHONDONTWRITEBYTECODE emptied: the workers, and the processes tests start, cache our
# own modules' bytecode and pytest its rewritten test modules (gitignored __pycache__/)
# instead of compiling them in every one of them.
test: install
	PYTHONDONTWRITEBYTECODE= $(VENV)/bin/pytest -n $(TEST_WORKERS) --dist worksteal $(ARGS)

# mypy imports the settings (django-stubs' plugin): DJANGO_DEBUG gives them their local
# defaults. Its exit status 1 means "errors found", which the baseline judges; 2 is a crash.
MYPY := DJANGO_DEBUG=1 $(VENV)/bin/mypy
MYPY_RUN := { $(MYPY) || [[ $$? -eq 1 ]]; }

# Every check runs, even after one fails, so that one run shows every problem. (mkdocs
# without --quiet: that hides the warnings --strict counts, and so passes a broken link.)
lint: install
	@failed=(); \
	run() { echo "+ $$1"; eval "$$1" || failed+=("$$1"); }; \
	run '$(VENV)/bin/ruff check .'; \
	run '$(VENV)/bin/ruff format --check .'; \
	run '$(MYPY_RUN) | $(VENV)/bin/mypy-baseline filter --no-colors'; \
	run '$(VENV)/bin/lint-imports'; \
	if [[ -f mkdocs.yml && -d docs ]]; then \
	  run 'NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict'; \
	else echo "(no mkdocs.yml and docs/: no docs site to build)"; fi; \
	if (($${#failed[@]})); then printf 'lint failed: %s\n' "$${failed[@]}" >&2; exit 1; fi

# The baseline is mypy's errors without line numbers, sorted. `make lint` fails on an error
# not in it, and on one in it that is gone (so it only shrinks): after fixing errors, or a
# merge that moves modules, run this and commit mypy-baseline.txt with the change.
mypy-baseline: install
	$(MYPY_RUN) | $(VENV)/bin/mypy-baseline sync

bench: install
	DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-local-benchmark-key}" DJANGO_DEVTOOLS=1 \
	  $(VENV)/bin/python manage.py bench_ingest $(ARGS)

bench-standings: install
	DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-local-benchmark-key}" DJANGO_DEVTOOLS=1 \
	  $(VENV)/bin/python manage.py bench_standings $(ARGS)

bench-reads: install
	DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-local-benchmark-key}" DJANGO_DEVTOOLS=1 \
	  $(VENV)/bin/python manage.py bench_reads $(ARGS)

bench-push: install
	DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-local-benchmark-key}" DJANGO_DEVTOOLS=1 \
	  $(VENV)/bin/python manage.py bench_push $(ARGS)
