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

## dev: open the Dagster UI on http://127.0.0.1:3000
dev: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/llmfeedback sync-partitions
	$(BIN)/dagster dev -m llmfeedback_assets.definitions -h 127.0.0.1 -p 3000

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

bench: $(VENV)/.installed-dev
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) $(DAGSTER_HOME) data/warehouse.duckdb data/warehouse.duckdb.journal
