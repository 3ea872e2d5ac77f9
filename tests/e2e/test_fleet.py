"""The real daemon scaling real workers 1 -> 3 -> 2 while a sampler watches ownership in the database."""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from typing import Any

from sqlalchemy import text

from tests.e2e.conftest import cli, wait_until
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.demo import set_active_count

HEARTBEAT_MS = 300
TTL_MS = 2000


class Sampler(threading.Thread):
    """Reads lease ownership from the database every 50 ms until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.db = Database(url)
        self.stop = threading.Event()
        self.samples: list[tuple[float, dict[int, list[str]], set[int]]] = []
        self.errors: list[str] = []

    def run(self) -> None:
        query = text(  # a lease is valid while its owner's registration is
            "SELECT l.mailbox_id, l.worker_id FROM autoscaler_leases l "
            "JOIN autoscaler_workers w ON w.id = l.worker_id "
            "WHERE w.expires_at > :now"
        )
        active = text("SELECT id FROM mailboxes WHERE status = 'active'")
        while not self.stop.is_set():
            try:
                with self.db.engine.connect() as conn:
                    now_ms = int(time.time() * 1000)
                    owners: dict[int, list[str]] = defaultdict(list)
                    for mailbox, worker in conn.execute(query, {"now": now_ms}):
                        owners[int(mailbox)].append(str(worker))
                    ids = {int(m) for (m,) in conn.execute(active)}
                self.samples.append((time.monotonic(), dict(owners), ids))
            except Exception as exc:  # the sampler must not die while tables appear
                self.errors.append(str(exc))
            self.stop.wait(0.05)
        self.db.dispose()


def fully_owned_after(sampler: Sampler, since: float) -> float | None:
    """Seconds from `since` to the first sample where every active mailbox had an owner."""
    for at, owners, active in sampler.samples:
        if at >= since and active <= owners.keys():
            return at - since
    return None


def _fleet_if(daemon: Any, ok: Any) -> dict[str, Any] | None:
    fleet = daemon.status()["fleet"]
    return fleet if fleet and ok(fleet) else None


def test_fleet_scales_1_3_2_without_double_ownership_or_overlap(
    tmp_path, base_env, daemon_factory, database_url
):
    """1 -> 3 -> 2 real workers: never two owners, no overlapping cycles, all cycles finished."""
    env = dict(base_env, DATABASE_URL=database_url)
    env.pop("AUTO_SCALER_LOCAL_WORKER_COMMAND")  # the real `warmup-autoscaler worker`
    env.update(
        AUTO_SCALER_CHECK_INTERVAL_MS="500",
        AUTO_SCALER_SCALE_UP_COOLDOWN_MS="0",
        AUTO_SCALER_SCALE_DOWN_COOLDOWN_MS="0",
        AUTO_SCALER_MAX_WORKERS="3",
        AUTO_SCALER_SCALE_DOWN_THRESHOLD="0.5",
        AUTO_SCALER_WORKER_HEARTBEAT_MS=str(HEARTBEAT_MS),
        AUTO_SCALER_WORKER_LEASE_TTL_MS=str(TTL_MS),
        AUTO_SCALER_WORKER_CYCLE_INTERVAL_MS="1500",
        AUTO_SCALER_LOCAL_STOP_GRACE_MS="20000",
        AUTO_SCALER_WORKER_DRAIN_TIMEOUT_MS="10000",
    )
    assert cli(tmp_path, env, "db", "init", "--demo").returncode == 0
    db = Database(database_url)
    set_active_count(db, 2500)
    sampler = Sampler(database_url)
    sampler.start()
    daemon = daemon_factory(env).start()
    try:
        wait_until(lambda: (daemon.status()["fleet"] or {}).get("live") == 3, 90, "3 live workers")
        three_at = time.monotonic()
        wait_until(lambda: fully_owned_after(sampler, three_at) is not None, 30, "all owned")
        assert fully_owned_after(sampler, three_at) <= 2 * HEARTBEAT_MS / 1000 + 1.0

        set_active_count(db, 1500)
        wait_until(lambda: daemon.status()["currentWorkers"] == 2, 60, "scale down to 2")
        wait_until(lambda: (daemon.status()["fleet"] or {}).get("live") == 2, 60, "2 live workers")
        wait_until(lambda: len(daemon.workers()) == 2, 60, "2 worker processes")
        two_at = time.monotonic()
        wait_until(lambda: fully_owned_after(sampler, two_at) is not None, 30, "all owned after")
        assert fully_owned_after(sampler, two_at) <= 2 * HEARTBEAT_MS / 1000 + 1.0
        # The status shows the registry as of the last check (every 0.5 s here), so it may lag
        # the sampler's read by one check.
        fleet = wait_until(
            lambda: _fleet_if(daemon, lambda f: [w["owned"] for w in f["workers"]] == [750, 750]),
            5,
            "the status to show 750 + 750 owned",
        )
        assert fleet["backlog"] == 0
        wait_until(lambda: _cycles(db, "COUNT(*)") > 0, 30, "some recorded cycles")
        drained = wait_until(lambda: _drained(tmp_path / "logs" / "worker-2.log"), 30, "drain log")
        # Every cycle the drained worker started has ended. A cycle can end fenced rather than
        # recorded when its mailbox was deactivated mid-cycle (1,000 were, just before).
        assert drained["cancelled_in_drain"] == 0 and drained["cancelled"] == 0, drained
        assert drained["failed"] == 0, drained
        ended = drained["recorded"] + drained["fenced"] + drained["unrecorded"]
        assert drained["started"] == ended, drained
    finally:
        assert daemon.stop() == 0
        sampler.stop.set()
        sampler.join()
    try:
        assert sampler.samples, sampler.errors
        for _, owners, _ in sampler.samples:
            assert all(len(ws) == 1 for ws in owners.values())
        rows = _rows(db)
        assert rows, "no cycles were recorded"
        by_mailbox: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for mailbox, started, finished in rows:
            assert finished >= started
            by_mailbox[mailbox].append((started, finished))
        for spans in by_mailbox.values():
            spans.sort()
            for (_, end), (start, _) in itertools.pairwise(spans):
                assert start >= end, "two cycles of one mailbox overlapped"
        journal = daemon.log_lines()
        actions = [(c["currentWorkers"], c["targetWorkers"]) for c in journal
                   if c.get("event") == "check" and c.get("executed")]  # fmt: skip
        assert actions == [(0, 1), (1, 2), (2, 3), (3, 2)]
    finally:
        db.dispose()


def _drained(log_path) -> dict | None:
    """The `worker_drained` line of a worker's log: what it started, recorded and cancelled."""
    import json

    for line in log_path.read_text().splitlines():
        if '"worker_drained"' in line:
            return json.loads(line)
    return None


def _rows(db: Database) -> list[tuple[int, int, int]]:
    with db.engine.connect() as conn:
        result = conn.execute(text("SELECT mailbox_id, started_at, finished_at FROM warmup_cycles"))
        return [(int(a), int(b), int(c)) for a, b, c in result]


def _cycles(db: Database, what: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT {what} FROM warmup_cycles")).scalar_one())
