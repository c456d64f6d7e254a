# Developer entry points. Needs only GNU make and Python 3.11 (no Docker):
#   make dev    the whole stack locally (PostgreSQL, Temporal, worker, API); Ctrl-C stops it
#   make test   mypy, then the test suite (PYTEST_ARGS="-k lifecycle -x" to pass options); installs
#               headless Chromium for the browser test first if it is missing (scripts/ensure_browser.sh)
#   make test-fast  only the tests that need no server (no stack, faults, browser or bench marker)
#   make lint   ruff check + format check + mypy (strict on workflows/ and activities/)
#   make bench  benchmarks on their own embedded stack (BENCH_ARGS="--clients 16"; see python -m bench -h)

PYTHON ?= $(if $(shell command -v python3.11 2>/dev/null),python3.11,python3)
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
# Re-install only when the dependencies change.
STAMP := $(VENV)/.installed-dev
PYTEST_ARGS ?=
BENCH_ARGS ?=
# The markers are registered in pyproject.toml; tests/conftest.py applies `stack`.
FAST_TESTS := not stack and not faults and not browser and not bench

.DEFAULT_GOAL := help
.PHONY: help bootstrap dev test test-fast lint typecheck format bench

help:
	@echo "make bootstrap  create $(VENV) and install the project with its [dev] extras"
	@echo "make dev        run the whole stack locally (data in .data/, Ctrl-C stops it)"
	@echo "make test       mypy, then every test (PYTEST_ARGS=... passes options to pytest); installs"
	@echo "                headless Chromium + CJK fonts with apt-get first if they are missing"
	@echo "make test-fast  only the tests that need no server: -m \"$(FAST_TESTS)\""
	@echo "make lint       ruff check, ruff format --check and mypy"
	@echo "make typecheck  mypy alone (configured in pyproject.toml; make test runs it first)"
	@echo "make format     ruff format and ruff check --fix"

$(STAMP): pyproject.toml
	test -x $(VENV_PYTHON) || $(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --quiet --upgrade pip
	$(VENV_PYTHON) -m pip install --quiet -e '.[dev]'
	touch $@

bootstrap: $(STAMP)

dev: bootstrap
	$(VENV_PYTHON) -m scripts.dev

test: typecheck
	sh scripts/ensure_browser.sh
	$(VENV_PYTHON) -m pytest $(PYTEST_ARGS)

test-fast: bootstrap
	$(VENV_PYTHON) -m pytest -m "$(FAST_TESTS)" $(PYTEST_ARGS)

lint: bootstrap
	$(VENV_PYTHON) -m ruff check .
	$(VENV_PYTHON) -m ruff format --check .
	$(VENV_PYTHON) -m mypy

# What it checks, how strictly, and its cache (.mypy_cache/): pyproject.toml's [tool.mypy].
typecheck: bootstrap
	$(VENV_PYTHON) -m mypy

format: bootstrap
	$(VENV_PYTHON) -m ruff format .
	$(VENV_PYTHON) -m ruff check --fix .

bench: bootstrap
	$(VENV_PYTHON) -m bench $(BENCH_ARGS)
