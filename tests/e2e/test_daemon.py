"""The real daemon on the local platform, as a user runs it, against SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import cli, wait_until
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.demo import set_active_count


def prepare(tmp_path, env, database_url, active: int) -> Database:
    env["DATABASE_URL"] = database_url
    done = cli(tmp_path, env, "db", "init", "--demo")
    assert done.returncode == 0, done.stderr
    db = Database(database_url)
    set_active_count(db, active)
    return db


def test_daemon_scales_local_workers_up_and_down(tmp_path, base_env, daemon_factory, database_url):
    """850 active mailboxes bring 2 worker processes, 100 bring back 1; status and ps agree."""
    env = dict(
        base_env,
        AUTO_SCALER_CHECK_INTERVAL_MS="1000",
        AUTO_SCALER_SCALE_UP_COOLDOWN_MS="0",
        AUTO_SCALER_SCALE_DOWN_COOLDOWN_MS="0",
    )
    db = prepare(tmp_path, env, database_url, 850)
    try:
        daemon = daemon_factory(env).start()
        wait_until(lambda: daemon.status()["currentWorkers"] == 2, what="2 workers in status")
        wait_until(lambda: len(daemon.workers()) == 2, what="2 worker processes")
        status = daemon.status()
        assert status["mailboxCount"] == 850
        assert status["utilizationPercent"] == 42.5
        assert status["lastError"] is None

        set_active_count(db, 100)
        wait_until(lambda: daemon.status()["currentWorkers"] == 1, what="1 worker in status")
        wait_until(lambda: len(daemon.workers()) == 1, what="1 worker process")
        assert daemon.status()["lastDecision"]["reason"].startswith("Low utilization")

        workers = daemon.workers()
        assert daemon.stop() == 0
        assert all(not daemon_alive(pid) for pid in workers)
    finally:
        db.dispose()
    checks = [line for line in daemon.log_lines() if line.get("event") == "check"]
    assert any(c["action"] == "scale-up" and c["executed"] for c in checks)
    assert any(c["action"] == "scale-down" and c["executed"] for c in checks)


def daemon_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_restart_keeps_the_cooldown(tmp_path, base_env, daemon_factory, database_url):
    """After a restart the stored scale-up time still holds a scale-up inside its cooldown."""
    env = dict(base_env, AUTO_SCALER_CHECK_INTERVAL_MS="500", AUTO_SCALER_SCALE_UP_COOLDOWN_MS="0")
    db = prepare(tmp_path, env, database_url, 850)
    try:
        first = daemon_factory(env).start()
        wait_until(lambda: first.status()["currentWorkers"] == 2, what="2 workers")
        scaled_at = first.status()["lastScaleUpAt"]
        assert first.stop() == 0

        set_active_count(db, 1800)
        env["AUTO_SCALER_SCALE_UP_COOLDOWN_MS"] = "600000"
        second = daemon_factory(env).start()
        decision = wait_until(lambda: second.status()["lastDecision"], what="a decision")
        status = second.status()
        assert status["lastScaleUpAt"] == scaled_at
        assert status["currentWorkers"] == 2
        assert decision["action"] == "no-change"
        assert "scale-up cooldown has" in decision["reason"]
        assert status["canScaleUp"] is False
        assert second.stop() == 0
    finally:
        db.dispose()


def test_trigger_and_status_commands(tmp_path, base_env, daemon_factory, sqlite_url):
    """`trigger` runs a check through the API with the token; `status --json` shows its result."""
    env = dict(
        base_env, AUTO_SCALER_CHECK_INTERVAL_MS="600000", AUTO_SCALER_SCALE_UP_COOLDOWN_MS="0"
    )
    db = prepare(tmp_path, env, sqlite_url, 850)
    try:
        daemon = daemon_factory(env).start()
        wait_until(lambda: daemon.status()["lastCheckAt"], what="the startup check")
        done = cli(tmp_path, env, "trigger", "--json")
        assert done.returncode == 0, done.stderr
        import json

        body = json.loads(done.stdout)
        assert body["success"] is True
        assert body["decision"]["action"] == "scale-up"
        assert body["decision"]["reason"] == "High utilization (85.0%) - adding worker"
        assert body["message"] == "Scaling check complete: scale-up"
        status = json.loads(cli(tmp_path, env, "status", "--json").stdout)
        assert status["currentWorkers"] == 2

        no_auth = httpx.post(f"{daemon.url}/api/auto-scaler/trigger", timeout=10)
        assert no_auth.status_code == 401
        wrong = httpx.post(
            f"{daemon.url}/api/auto-scaler/trigger",
            headers={"Authorization": "Bearer nope"},
            timeout=10,
        )
        assert wrong.status_code == 403
        assert daemon.stop() == 0
    finally:
        db.dispose()


def test_postgres_outage_removes_no_worker(
    tmp_path, base_env, daemon_factory, postgres_url, pg_server
):
    """With PostgreSQL stopped mid-run no worker is removed, lastError says why, checks recover."""
    env = dict(
        base_env,
        AUTO_SCALER_CHECK_INTERVAL_MS="500",
        AUTO_SCALER_SCALE_UP_COOLDOWN_MS="0",
        AUTO_SCALER_SCALE_DOWN_COOLDOWN_MS="0",
        AUTO_SCALER_QUERY_TIMEOUT_MS="2000",
    )
    db = prepare(tmp_path, env, postgres_url, 1800)
    db.dispose()
    daemon = daemon_factory(env).start()
    wait_until(lambda: daemon.status()["currentWorkers"] == 3, what="3 workers")
    workers = daemon.workers()
    assert len(workers) == 3
    pg_server.stop()
    try:
        error = wait_until(lambda: daemon.status()["lastError"], what="lastError")
        assert "cannot connect to the database" in error
        assert "DATABASE_URL" in error
        before = daemon.status()["lastCheckAt"]
        wait_until(lambda: daemon.status()["lastCheckAt"] != before, what="another failed check")
        assert daemon.workers() == workers
        assert daemon.status()["currentWorkers"] == 3
    finally:
        pg_server.start()
    wait_until(lambda: daemon.status()["lastError"] is None, what="recovery")
    assert daemon.status()["mailboxCount"] == 1800
    assert daemon.workers() == workers
    assert daemon.stop() == 0
