"""Rebalancing when a worker joins: how many mailboxes move, and how long the handover takes.

(a) Moves: `LeaseKeeper`s driven heartbeat by heartbeat in this process (as the integration tests
do) on PostgreSQL and SQLite; mailboxes that changed owner on 1->2, 2->3 and 9->10 workers,
against the fewest that must move, computed from the same fleet just before the join.
(b) Handover: real `python -m warmup_autoscaler.worker` processes on PostgreSQL. Three own all
2,500 mailboxes; a fourth is spawned (the scale-up decision executed) and the database is polled
until it is registered and the fleet is at its new fair share with every mailbox owned. The
baseline, measured just before each spawn, is a bare `python -c "import warmup_autoscaler.worker"`.
"""

from __future__ import annotations

import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import text
from tests.support.keepers import step

from bench.pg import throwaway_postgres
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.demo import create_demo_tables, set_active_count
from warmup_autoscaler.store.migrate import upgrade
from warmup_autoscaler.store.worker_schema import fleet, leases, warmup_cycles, workers
from warmup_autoscaler.worker import LeaseKeeper, SyncPolicy, WorkerIdentity

__all__ = ["minimum_moves", "prepare", "run"]

ACTIVE_QUERY = "SELECT * FROM mailboxes WHERE status = 'active'"
KEEPER_TTL_MS = 600_000  # in-process keepers: nothing expires behind their back
HEARTBEAT_MS = 1000  # real workers
LEASE_TTL_MS = 5000
CYCLE_INTERVAL_MS = 3_600_000  # cycles rarely start: the heartbeats are what is measured
CAPACITY = 1000
POLL_S = 0.01
NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint"


def prepare(db: Database, mailboxes: int) -> None:
    """Migrated tables, `mailboxes` active rows, no workers or leases, and a lease sync due."""
    upgrade(db)
    create_demo_tables(db)
    with db.begin_write() as conn:
        for table in (workers, leases, warmup_cycles):
            conn.execute(text(f"DELETE FROM {table.name}"))
        conn.execute(text(f"UPDATE {fleet.name} SET mailboxes = 0, sync_due_at = 0"))
    set_active_count(db, mailboxes)


def minimum_moves(before: list[int], workers: int, total: int) -> int:
    """The fewest mailboxes that must change owner to go from `before` to a balanced fleet."""
    base, extra = divmod(total, workers)
    caps = [base + 1] * extra + [base] * (workers - extra)
    counts = sorted([*before, *[0] * (workers - len(before))], reverse=True)
    return sum(max(0, have - cap) for have, cap in zip(counts, caps, strict=True))


# --- (a) moves, in process -------------------------------------------------------------------


def _owners(db: Database) -> dict[int, str | None]:
    with db.engine.connect() as conn:
        rows = conn.execute(text(f"SELECT mailbox_id, worker_id FROM {leases.name}"))
        return {int(m): w for m, w in rows}


def _settle(db: Database, keepers: list[LeaseKeeper], limit: int = 10) -> int:
    """Heartbeat every keeper in turn until every mailbox is owned, none above the fair share,
    and a round changes nothing; returns the rounds before that quiet one."""
    owners = _owners(db)
    for done in range(limit):
        for keeper in keepers:
            step(keeper)
        now = _owners(db)
        counts: dict[str | None, int] = {}
        for owner in now.values():
            counts[owner] = counts.get(owner, 0) + 1
        share = math.ceil(len(now) / len(keepers))
        fair = None not in counts and len(counts) == len(keepers) and max(counts.values()) <= share
        if now == owners and fair:
            return done
        owners = now
    raise RuntimeError(f"the fleet did not settle within {limit} heartbeat rounds")


def _join(db: Database, workers: int, mailboxes: int) -> tuple[int, int, int]:
    """(mailboxes that changed owner, the minimum, heartbeat rounds until balanced). Capacity
    is unlimited, as in the tests, so the fair share alone decides who owns how many."""
    prepare(db, mailboxes)

    def keeper(name: str) -> LeaseKeeper:
        me = WorkerIdentity(id=uuid.uuid4().hex, name=name, host="bench", pid=0)
        return LeaseKeeper(
            db,
            me,
            lease_ttl_ms=KEEPER_TTL_MS,
            capacity=10**9,
            active_query=ACTIVE_QUERY,
            sync=SyncPolicy(duty=1.0),
        )

    keepers = [keeper(f"w{i}") for i in range(workers)]
    _settle(db, keepers)
    before = _owners(db)
    keepers.append(keeper("new"))
    rounds = _settle(db, keepers)
    after = _owners(db)
    counts: dict[str | None, int] = {}
    for owner in before.values():
        counts[owner] = counts.get(owner, 0) + 1
    moved = sum(after[m] != before[m] for m in after)
    return moved, minimum_moves(list(counts.values()), workers + 1, mailboxes), rounds


def _moves(url: str, label: str, scenarios: list[tuple[int, int]], rounds: int) -> None:
    db = Database(url)
    try:
        for workers, mailboxes in scenarios:
            runs = [_join(db, workers, mailboxes) for _ in range(rounds)]
            moved = statistics.median(r[0] for r in runs)
            least = statistics.median(r[1] for r in runs)
            settle = statistics.median(r[2] for r in runs)
            print(
                f"moves {label} {workers}->{workers + 1} ({mailboxes:,} mailboxes, {rounds} "
                f"rounds): moved {moved:,.0f}, minimum {least:,.0f}, ratio {moved / least:.3f} "
                f"(goal <= 1.05); balanced after {settle:.0f} heartbeat rounds (the first registers "
                f"the newcomer)"
            )
    finally:
        db.dispose()


# --- (b) handover, real processes ------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Handover:
    """One scale-up by one real worker, timed from its spawn."""

    registered_s: float  # spawn -> its row in the registry
    balanced_s: float  # registered -> every mailbox owned, nobody above the new fair share
    peak_unowned: int  # most active mailboxes seen without a valid lease meanwhile
    unowned_s: float  # first poll seeing one unowned -> balanced


class Fleet:
    """Worker processes on one database, and a poller reading ownership from it."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.workdir = workdir
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AUTO_SCALER_") and k != "DATABASE_URL"
        }
        self.env.update(
            DATABASE_URL=url,
            AUTO_SCALER_LOG_FORMAT="json",
            AUTO_SCALER_WORKER_HEARTBEAT_MS=str(HEARTBEAT_MS),
            AUTO_SCALER_WORKER_LEASE_TTL_MS=str(LEASE_TTL_MS),
            AUTO_SCALER_WORKER_CYCLE_INTERVAL_MS=str(CYCLE_INTERVAL_MS),
            AUTO_SCALER_MAILBOXES_PER_WORKER=str(CAPACITY),
        )
        self.procs: list[subprocess.Popen[bytes]] = []
        self.conn = psycopg.connect(url.replace("+psycopg", ""), autocommit=True)

    def spawn(self) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"worker-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "warmup_autoscaler.worker"],
            cwd=self.workdir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def bare_start_s(self) -> float:
        """Seconds until a bare interpreter has imported the worker package (its exit and
        teardown are not counted, as a worker's are not)."""
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", "import warmup_autoscaler.worker; print('ready', flush=True)"],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        elapsed = time.perf_counter() - started
        proc.stdout.close()
        if proc.wait(30) != 0 or not ready:
            raise RuntimeError("the bare import failed")
        return elapsed

    def poll(self) -> tuple[dict[int, int], int]:
        """({pid: mailboxes owned} of the live workers in state active, active mailboxes
        without a valid lease)."""
        owned = self.conn.execute(
            f"SELECT w.pid, count(l.mailbox_id) FROM {workers.name} AS w "
            f"LEFT JOIN {leases.name} AS l ON l.worker_id = w.id "
            f"WHERE w.state = 'active' AND w.expires_at > {NOW_MS} GROUP BY w.pid"
        ).fetchall()
        (unowned,) = self.conn.execute(
            "SELECT count(*) FROM mailboxes AS m WHERE m.status = 'active' AND NOT EXISTS ("
            f"SELECT 1 FROM {leases.name} AS l JOIN {workers.name} AS w ON w.id = l.worker_id "
            f"WHERE l.mailbox_id = m.id AND w.expires_at > {NOW_MS})"
        ).fetchone() or (0,)
        return {int(p): int(n) for p, n in owned}, int(unowned)

    def balanced(self, workers: int, total: int) -> bool:
        owned, unowned = self.poll()
        share = math.ceil(total / workers)
        return len(owned) == workers and unowned == 0 and max(owned.values()) <= share

    def wait_balanced(self, workers: int, total: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.balanced(workers, total):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{workers} workers not balanced: {self.poll()}; logs in {self.workdir}"
                )
            time.sleep(0.05)

    def handover(self, workers: int, total: int) -> Handover:
        """Spawn one more worker and poll until the fleet is balanced with every mailbox owned."""
        started = time.monotonic()
        proc = self.spawn()
        registered_at = unowned_since = 0.0
        peak = 0
        share = math.ceil(total / (workers + 1))
        while time.monotonic() - started < 60:
            owned, unowned = self.poll()
            now = time.monotonic()
            peak = max(peak, unowned)
            if unowned and not unowned_since:
                unowned_since = now
            if not registered_at and proc.pid in owned:
                registered_at = now
            full = len(owned) == workers + 1 and unowned == 0
            if registered_at and full and max(owned.values()) <= share:
                return Handover(
                    registered_s=registered_at - started,
                    balanced_s=now - registered_at,
                    peak_unowned=peak,
                    unowned_s=now - unowned_since if unowned_since else 0.0,
                )
            time.sleep(POLL_S)
        raise RuntimeError(f"handover did not complete: {self.poll()}; logs in {self.workdir}")

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM and wait until it has drained and exited."""
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        self.procs.remove(proc)

    def close(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.conn.close()


def _handover(url: str, rounds: int) -> dict[str, float]:
    workers, total = 3, 2500
    db = Database(url)
    prepare(db, total)
    db.dispose()
    bare: list[float] = []
    runs: list[Handover] = []
    with tempfile.TemporaryDirectory(prefix="warmup-bench-fleet-") as tmp:
        fleet = Fleet(url, Path(tmp))
        try:
            for _ in range(workers):
                fleet.spawn()
            fleet.wait_balanced(workers, total)
            for _ in range(rounds):
                bare.append(fleet.bare_start_s())
                runs.append(fleet.handover(workers, total))
                fleet.stop(fleet.procs[-1])
                fleet.wait_balanced(workers, total)
        finally:
            fleet.close()
    b = statistics.median(bare)
    r = statistics.median(h.registered_s for h in runs)
    s = statistics.median(h.balanced_s for h in runs)
    whole = statistics.median(h.registered_s + h.balanced_s for h in runs)
    print(
        f"handover {workers}->{workers + 1} real workers, {total:,} mailboxes, heartbeat "
        f"{HEARTBEAT_MS} ms, {rounds} rounds (medians): spawn -> registered {r:.2f} s, "
        f"registered -> balanced {s:.2f} s ({s * 1000 / HEARTBEAT_MS:.2f} heartbeats), "
        f"spawn -> balanced {whole:.2f} s; bare process start {b:.2f} s; ratio {whole / b:.2f}; "
        f"unowned meanwhile: up to {statistics.median(h.peak_unowned for h in runs):,.0f} "
        f"mailboxes for {statistics.median(h.unowned_s for h in runs):.2f} s"
    )
    print(
        "  per round (spawn->registered+->balanced / bare): "
        + ", ".join(
            f"{h.registered_s:.2f}+{h.balanced_s:.2f} / {x:.2f} s"
            for h, x in zip(runs, bare, strict=True)
        )
    )
    return {"spawn_to_registered_s": r, "registered_to_balanced_s": s, "bare_start_s": b}


def run(*, quick: bool = False) -> dict[str, float]:
    scenarios = [(1, 250), (2, 250), (9, 1000)] if quick else [(1, 2500), (2, 2500), (9, 10_000)]
    move_rounds, handover_rounds = (1, 2) if quick else (3, 5)
    with tempfile.TemporaryDirectory(prefix="warmup-bench-sqlite-") as tmp:
        _moves(f"sqlite:///{tmp}/bench.db", "sqlite", scenarios, move_rounds)
    with throwaway_postgres("bench") as url:
        if url is None:
            return {}
        _moves(url, "postgresql", scenarios, move_rounds)
        return _handover(url, handover_rounds)
