# Developer entry points. `make run` and `make test` set everything up themselves.
.DEFAULT_GOAL := help
SHELL := /bin/sh

VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
PYTEST_WORKERS ?= 2

# uv: install into .venv exactly what uv.lock says (dev group included),
# with the Python 3.12 that scripts/find-python finds; never download a Python.
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: help install system-deps migrate run test lint bench bench-scale clean

help:
	@echo "make run          set up, migrate, load demo data, serve http://127.0.0.1:8000"
	@echo "make test         set up and run the whole test suite"
	@echo "make install      system packages (if missing) + .venv from uv.lock"
	@echo "make system-deps  apt-install PostgreSQL server binaries / Chromium if missing"
	@echo "make migrate      apply database migrations"
	@echo "make lint         ruff check, ruff format --check, mypy"
	@echo "make bench        run the benchmarks"
	@echo "make bench-scale  large-database read benchmarks (SCALE=0.1 for a quick try)"
	@echo "make clean        remove .venv and caches"

system-deps:
	@scripts/system-deps

$(VENV)/.installed: pyproject.toml uv.lock scripts/find-python
	@set -e; \
	py=$$(scripts/find-python); \
	echo "Python: $$py"; \
	if ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then \
		rm -rf $(VENV); \
		"$$py" -m venv $(VENV); \
	fi; \
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION); \
	UV_PYTHON="$$py" $(BIN)/uv sync --frozen --group dev; \
	touch $@

install: system-deps $(VENV)/.installed

migrate: $(VENV)/.installed
	$(BIN)/tracelot migrate

run: install
	$(BIN)/tracelot migrate
	$(BIN)/tracelot demo --if-empty
	$(BIN)/tracelot serve --host 127.0.0.1 --port 8000

# pytest exits 5 when it collects no test: that is a failure too (we want tests).
test: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) tests

# Runs all three checkers, then fails if any of them failed.
lint: $(VENV)/.installed
	@rc=0; \
	echo "+ ruff check"; $(BIN)/ruff check || rc=1; \
	echo "+ ruff format --check"; $(BIN)/ruff format --check || rc=1; \
	echo "+ mypy"; $(BIN)/mypy || rc=1; \
	exit $$rc

bench: install
	$(BIN)/python -m bench

SCALE ?= 1.0
bench-scale: install
	$(BIN)/python -m bench.scale --scale $(SCALE)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
	find src tests -name __pycache__ -type d -prune -exec rm -rf {} +
