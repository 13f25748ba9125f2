# Tenantdesk. Quickstart: `make run` (dashboard + demo data), `make test` (whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@ $(VENV)/.installed

## Start the dashboard with demo data on the embedded PostgreSQL (HOST/PORT override).
run: $(VENV)/.installed
	$(BIN)/tenantdesk run

## Run the whole suite (embedded PostgreSQL, or DATABASE_URL when set).
test: $(VENV)/.installed-dev
	@bash scripts/ensure-chromium.sh
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) instance/pgdata .pytest_cache
