# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# make run's demo: a local SQLite database, fast checks and short cooldowns so scaling shows.
DEMO_MAILBOXES ?= 2500
DEMO_ENV := AUTO_SCALER_CHECK_INTERVAL_MS=$${AUTO_SCALER_CHECK_INTERVAL_MS:-5000} \
	AUTO_SCALER_SCALE_UP_COOLDOWN_MS=$${AUTO_SCALER_SCALE_UP_COOLDOWN_MS:-10000} \
	AUTO_SCALER_SCALE_DOWN_COOLDOWN_MS=$${AUTO_SCALER_SCALE_DOWN_COOLDOWN_MS:-20000} \
	AUTO_SCALER_WORKER_HEARTBEAT_MS=$${AUTO_SCALER_WORKER_HEARTBEAT_MS:-1000} \
	AUTO_SCALER_WORKER_LEASE_TTL_MS=$${AUTO_SCALER_WORKER_LEASE_TTL_MS:-5000} \
	AUTO_SCALER_WORKER_CYCLE_INTERVAL_MS=$${AUTO_SCALER_WORKER_CYCLE_INTERVAL_MS:-30000}

.PHONY: install run test test-unit lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/warmup-autoscaler db init --demo
	$(BIN)/warmup-autoscaler db seed --mailboxes $(DEMO_MAILBOXES) --if-empty
	@echo "API: http://127.0.0.1:3001/api/auto-scaler/status  (Ctrl-C stops the daemon and its workers)"
	$(DEMO_ENV) $(BIN)/warmup-autoscaler run

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
