"""docker-compose.auto-scale.yml, read as data: the workers' token and liveness check."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.auto-scale.yml"


def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_workers_never_get_the_admin_token():
    """Both services read .env; the workers' environment empties the admin token over it."""
    worker, scaler = services()["warmup-worker"], services()["auto-scaler"]
    assert worker["env_file"] == scaler["env_file"] == ".env"
    assert worker["environment"]["AUTO_SCALER_ADMIN_TOKEN"] == ""
    assert "AUTO_SCALER_ADMIN_TOKEN" not in scaler["environment"]


def test_workers_have_a_healthcheck_on_their_heartbeat():
    """The workers' healthcheck runs `worker-alive` on the heartbeat file they write."""
    worker = services()["warmup-worker"]
    assert worker["environment"]["AUTO_SCALER_WORKER_HEARTBEAT_FILE"].startswith("/tmp/")
    assert worker["healthcheck"]["test"] == ["CMD", "warmup-autoscaler", "worker-alive"]
