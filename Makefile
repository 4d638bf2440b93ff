# Two commands for a new user: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test dev lint bench clean install install-dev

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "python3.11 not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

## run: install, materialize the whole graph on the offline default and print the leaderboard
run: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/llmfeedback run

## test: install with dev extras and run the test suite
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

## dev: open the Dagster UI on http://127.0.0.1:3000 (DEV_PORT=3001 for another port)
# `dagster dev` runs inside $(DAGSTER_HOME): from the repo root it warns that ./dagster.yaml (the template
# copied into $(DAGSTER_HOME)) is not used. `dagster dev` is superseded (not deprecated) by `dg dev -m`,
# which starts the same server but needs dagster-dg-cli and what it pulls in (dagster-dg-core,
# dagster-cloud-cli, dagster-rest-resources), so the supersession notice is ignored for this command only,
# matched by its text (naming the warning class in PYTHONWARNINGS would import dagster at the start of
# every Python process it launches).
# Relative config and database paths are made absolute before the `cd`.
DEV_HOST ?= 127.0.0.1
DEV_PORT ?= 3000
DEV_WARNINGS := ignore:Function `dev_command` is superseded
dev: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/llmfeedback sync-partitions
	@echo "Dagster UI on http://$(DEV_HOST):$(DEV_PORT) (instance in $(DAGSTER_HOME); Ctrl-C stops it)"
	@cd "$(DAGSTER_HOME)" && DAGSTER_HOME="$$(pwd -P)" \
	  PYTHONWARNINGS="$${PYTHONWARNINGS:+$$PYTHONWARNINGS,}"'$(DEV_WARNINGS)' \
	  $(if $(LLMFEEDBACK_CONFIG),LLMFEEDBACK_CONFIG="$(abspath $(LLMFEEDBACK_CONFIG))") \
	  $(if $(LLMFEEDBACK_DB),LLMFEEDBACK_DB="$(abspath $(LLMFEEDBACK_DB))") \
	  "$(CURDIR)/$(BIN)/dagster" dev -m llmfeedback_assets.definitions -d "$(CURDIR)" \
	  -h $(DEV_HOST) -p $(DEV_PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

bench: $(VENV)/.installed-dev
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) $(DAGSTER_HOME) data/warehouse.duckdb data/warehouse.duckdb.journal
