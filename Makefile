# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# make run's demo (scripts/demo-run.sh): a local SQLite database with DEMO_MAILBOXES mailboxes, and
# short intervals and cooldowns for the settings that neither the environment nor .env sets.
DEMO_MAILBOXES ?= 2500

.PHONY: install run test test-unit lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	BIN=$(BIN) DEMO_MAILBOXES=$(DEMO_MAILBOXES) bash scripts/demo-run.sh

test: install
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/pytest

test-unit: install
	$(BIN)/pytest tests/unit

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) logs warmup.db warmup.db-wal warmup.db-shm .pytest_cache .mypy_cache .hypothesis
