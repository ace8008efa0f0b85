# The two commands of the README (`make run`, `make test`) set everything up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench diagram clean mutants

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## run: serve the web chat on http://$(HOST):$(PORT)/ (SQLite in ./optibot.db, no token needed)
run: $(STAMP)
	$(BIN)/optibot run --host $(HOST) --port $(PORT)

## test: lint, type-check and run the whole test suite (SQLite and PostgreSQL)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

## bench: every benchmark (engine, channels, live events, big tables, scale-out); medians of the rounds
bench: $(STAMP)
	$(BIN)/python -m bench

## mutants: break each invariant on purpose in a copy of the tree; fails if a test does not notice
mutants: $(STAMP)
	$(BIN)/python tools/mutants.py

diagram: $(STAMP)
	$(BIN)/optibot diagram

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
