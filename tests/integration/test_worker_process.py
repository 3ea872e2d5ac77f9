"""Real worker processes (`python -m warmup_autoscaler.worker`) on SQLite and PostgreSQL: drain on
SIGTERM, takeover after SIGKILL, fencing after SIGSTOP/SIGCONT, and mailboxes coming and going.

Every wait polls the database (or the process) with a deadline; times compared are the database's
own clock. Workers run with a short heartbeat and TTL so each test takes a few seconds. On SQLite
a worker stopped inside a write transaction holds the database's only write lock, so nobody else
can write until it resumes: the fencing test stops it outside one, and
`test_sqlite_a_worker_paused_inside_a_write_holds_off_the_others` covers the other case.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text

from tests.support.sqlite_locks import holds_write_lock
from warmup_autoscaler.store.database import Database, now_ms_sql
from warmup_autoscaler.store.demo import create_demo_tables, seed_mailboxes, set_active_count
from warmup_autoscaler.store.migrate import upgrade
from warmup_autoscaler.store.worker_schema import leases
from warmup_autoscaler.store.worker_schema import workers as registrations
from warmup_autoscaler.worker import Cycle, Worker, WorkerConfig, WorkerIdentity

T = TypeVar("T")
HEARTBEAT_MS = 250
TTL_MS = 2000
POLL_S = 0.02
# Cycles that keep each mailbox busy 60% of a 1 s cycle interval: a stopped worker almost surely
# has some in flight, and a heartbeat (every 250 ms) still falls between two cycles of each
# mailbox, when it can be shed (a mailbox is never shed in the middle of a cycle).
BUSY_JOB_S = "0.6"
SLOW_JOB = textwrap.dedent(
    """
    import asyncio, os

    async def run(cycle):
        await asyncio.sleep(float(os.environ["SLOW_JOB_S"]))
        await cycle.record(outcome="slow")
    """
)


def poll(check: Callable[[], T | None], timeout_s: float, what: str) -> T:
    """Call `check` until it returns something truthy; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(POLL_S)


class Workers:
    """Starts worker processes for one test and always stops them."""

    def __init__(self, db: Database, url: str, tmp: Path) -> None:
        self.db, self.url, self.tmp = db, url, tmp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        (tmp / "slowjob.py").write_text(SLOW_JOB)

    def start(self, name: str, **settings: Any) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTO_SCALER_")}
        env.update(
            DATABASE_URL=self.url,
            PYTHONPATH=os.pathsep.join([str(self.tmp), env.get("PYTHONPATH", "")]),
            AUTO_SCALER_LOG_FORMAT="json",
            AUTO_SCALER_WORKER_NAME=name,
            AUTO_SCALER_WORKER_HEARTBEAT_MS=str(HEARTBEAT_MS),
            AUTO_SCALER_WORKER_LEASE_TTL_MS=str(TTL_MS),
            AUTO_SCALER_WORKER_CYCLE_INTERVAL_MS="1000",
            AUTO_SCALER_WORKER_DRAIN_TIMEOUT_MS="10000",
            AUTO_SCALER_WORKER_CONCURRENCY="50",
            SLOW_JOB_S="0.3",
        )
        env.update(
            {
                k.upper() if k == "slow_job_s" else f"AUTO_SCALER_{k.upper()}": str(v)
                for k, v in settings.items()
            }
        )
        with (self.tmp / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "warmup_autoscaler.worker"],
                cwd=self.tmp,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs[name] = proc
        return proc

    def events(self, name: str, event: str) -> list[dict[str, Any]]:
        found = []
        for line in (self.tmp / f"{name}.log").read_text().splitlines():
            if line.startswith("{") and json.loads(line).get("event") == event:
                found.append(json.loads(line))
        return found

    def worker_id(self, name: str) -> str:
        def registered() -> str | None:
            return self.scalar("SELECT id FROM autoscaler_workers WHERE name = :n", n=name)

        return poll(registered, 15, f"worker {name} to register")

    def scalar(self, sql: str, **params: Any) -> Any:
        rows = self.rows(sql, **params)
        return rows[0][0] if rows else None

    def rows(self, sql: str, **params: Any) -> list[Any]:
        """Rows of `sql`, where {now} is the database clock in epoch ms."""
        statement = text(sql.format(now=now_ms_sql(self.db.dialect_name)))
        with self.db.engine.connect() as conn:
            return list(conn.execute(statement, params))

    def owners(self) -> dict[int, str | None]:
        """{mailbox: owner with a valid lease (its registration unexpired), or None}."""
        rows = self.rows(
            "SELECT l.mailbox_id, CASE WHEN w.expires_at > {now} THEN l.worker_id END "
            f"FROM {leases.name} AS l LEFT JOIN {registrations.name} AS w ON w.id = l.worker_id"
        )
        return {int(m): w for m, w in rows}

    def owned_by(self, worker: str) -> set[int]:
        return {m for m, w in self.owners().items() if w == worker}

    def pause(self, proc: subprocess.Popen[bytes]) -> int:
        """SIGSTOP `proc`; on SQLite only at an instant it holds no write lock (stopping it and
        resuming it at once otherwise). Returns how many stops it took."""
        for attempt in itertools.count(1):
            proc.send_signal(signal.SIGSTOP)
            wait_stopped(proc.pid)
            if self.db.dialect_name != "sqlite" or not self.holds_write_lock(proc):
                return attempt
            proc.send_signal(signal.SIGCONT)
            time.sleep(POLL_S)
        raise AssertionError("unreachable")

    def holds_write_lock(self, proc: subprocess.Popen[bytes]) -> bool:
        return holds_write_lock(proc.pid, Path(self.db.engine.url.database or ""))

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
            proc.wait(timeout=15)


def wait_stopped(pid: int) -> None:
    """Wait until every thread of `pid` is stopped (SIGSTOP is delivered asynchronously)."""
    tasks = Path(f"/proc/{pid}/task")

    def stopped() -> bool:
        states = [(t / "stat").read_text().rsplit(")", 1)[1].split()[0] for t in tasks.iterdir()]
        return all(state in "tT" for state in states)

    poll(stopped, 5, f"process {pid} to stop")


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[Workers]:
    db = Database(database_url)
    upgrade(db)
    create_demo_tables(db)
    seed_mailboxes(db, 30, status="paused")
    set_active_count(db, 20)
    fleet = Workers(db, database_url, tmp_path)
    try:
        yield fleet
    finally:
        fleet.stop_all()
        db.dispose()


def assert_no_overlapping_cycles(fleet: Workers) -> None:
    """Per mailbox, each recorded cycle starts no earlier than the previous one finished."""
    rows = fleet.rows(
        "SELECT mailbox_id, started_at, finished_at, worker_id, epoch FROM warmup_cycles "
        "ORDER BY mailbox_id, started_at, finished_at"
    )
    assert rows, "no cycle was recorded at all"
    for before, after in itertools.pairwise(rows):
        if before[0] == after[0]:
            assert after[1] >= before[2], f"overlapping cycles: {before} and {after}"


def both_hold_half(fleet: Workers, a: str, b: str) -> bool:
    owners = fleet.owners()
    return sorted(owners.values(), key=str) == sorted([a] * 10 + [b] * 10)


def test_sigterm_drains_and_hands_over_without_waiting_for_the_ttl(workers: Workers) -> None:
    """On SIGTERM a worker finishes its cycles, releases every lease, deregisters and exits 0;
    the other worker owns all mailboxes well before the (long) lease TTL could have expired."""
    ttl_ms = 30_000
    job = {"worker_job": "slowjob:run", "worker_lease_ttl_ms": ttl_ms}
    proc_a = workers.start("a", **job)
    workers.start("b", **job)
    a, b = workers.worker_id("a"), workers.worker_id("b")
    poll(lambda: both_hold_half(workers, a, b), 15, "a and b to own 10 mailboxes each")
    poll(
        lambda: workers.scalar("SELECT count(*) FROM warmup_cycles WHERE worker_id = :a", a=a),
        15,
        "a to record a cycle",
    )
    proc_a.send_signal(signal.SIGTERM)
    assert proc_a.wait(timeout=15) == 0
    exited_at = workers.scalar("SELECT {now}")
    assert workers.scalar("SELECT count(*) FROM autoscaler_leases WHERE worker_id = :a", a=a) == 0
    assert workers.scalar("SELECT count(*) FROM autoscaler_workers WHERE id = :a", a=a) == 0
    poll(lambda: len(workers.owned_by(b)) == 20, 10, "b to own all 20 mailboxes")
    took_ms = workers.scalar("SELECT {now}") - exited_at
    assert took_ms < ttl_ms / 2, "b took the mailboxes over without waiting for their TTL"
    drained = workers.events("a", "worker_drained")
    assert len(drained) == 1
    assert drained[0]["cancelled_in_drain"] == 0 and drained[0]["fenced"] == 0
    assert_no_overlapping_cycles(workers)


def test_sigkill_loses_the_mailboxes_when_the_leases_expire(workers: Workers) -> None:
    """A killed worker's mailboxes are owned by the other within TTL + one heartbeat of its
    last lease renewal (database clock, plus the polling slack)."""
    proc_a = workers.start("a")
    workers.start("b")
    a, b = workers.worker_id("a"), workers.worker_id("b")
    poll(lambda: both_hold_half(workers, a, b), 15, "a and b to own 10 mailboxes each")
    proc_a.kill()
    proc_a.wait(timeout=15)
    expiry = workers.scalar(f"SELECT expires_at FROM {registrations.name} WHERE id = :a", a=a)
    poll(lambda: len(workers.owned_by(b)) == 20, TTL_MS / 1000 + 10, "b to own all 20")
    late_ms = workers.scalar("SELECT {now}") - expiry
    print(f"takeover observed {late_ms} ms after a's leases expired")
    assert late_ms <= HEARTBEAT_MS + 750, f"takeover {late_ms} ms after expiry"
    poll(
        lambda: not workers.scalar("SELECT count(*) FROM autoscaler_workers WHERE id = :a", a=a),
        5,
        "a to be pruned",
    )


def test_a_paused_worker_cannot_record_under_its_stale_epoch(workers: Workers) -> None:
    """SIGSTOP past the TTL, the other worker takes over; after SIGCONT the paused worker's
    in-flight cycles are fenced (not recorded), no cycles overlap, and it rejoins the fleet."""
    job = {"worker_job": "slowjob:run", "slow_job_s": BUSY_JOB_S}
    proc_a = workers.start("a", **job)
    workers.start("b", **job)
    a, b = workers.worker_id("a"), workers.worker_id("b")
    poll(lambda: both_hold_half(workers, a, b), 15, "a and b to own 10 mailboxes each")
    poll(
        lambda: workers.scalar("SELECT count(*) FROM warmup_cycles WHERE worker_id = :a", a=a),
        15,
        "a to record a cycle",
    )
    old_epochs = dict(
        workers.rows("SELECT mailbox_id, epoch FROM autoscaler_leases WHERE worker_id = :a", a=a)
    )
    workers.pause(proc_a)
    poll(lambda: len(workers.owned_by(b)) == 20, TTL_MS / 1000 + 10, "b to take over")
    taken_over_at = workers.scalar("SELECT {now}")
    proc_a.send_signal(signal.SIGCONT)
    poll(lambda: workers.events("a", "cycle_fenced"), 10, "a's stale cycles to be fenced")
    poll(
        lambda: workers.scalar(
            "SELECT count(*) FROM warmup_cycles WHERE worker_id = :a AND started_at > :t",
            a=a,
            t=taken_over_at,
        ),
        15,
        "a to rejoin and record under a new epoch",
    )
    stale = [
        row
        for row in workers.rows(
            "SELECT mailbox_id, epoch, finished_at FROM warmup_cycles "
            "WHERE worker_id = :a AND finished_at >= :t",
            a=a,
            t=taken_over_at,
        )
        if old_epochs.get(row[0]) == row[1]
    ]
    assert stale == [], "a recorded a cycle under an epoch it had lost"
    assert_no_overlapping_cycles(workers)
    assert proc_a.poll() is None


def test_sqlite_a_worker_paused_inside_a_write_holds_off_the_others(
    sqlite_url: str, tmp_path: Path
) -> None:
    """SQLite has one write lock: a worker stopped while holding it keeps every other worker from
    writing (their heartbeats fail with 'database is locked'), so nobody takes its mailboxes
    while it is stopped, past its TTL; once resumed, the fleet rebalances, with no overlapping
    cycle and nothing recorded under an epoch its worker had lost."""
    db = Database(sqlite_url)
    upgrade(db)
    create_demo_tables(db)
    set_active_count(db, 20)
    fleet = Workers(db, sqlite_url, tmp_path)
    job = {"worker_job": "slowjob:run", "slow_job_s": BUSY_JOB_S, "query_timeout_ms": "300"}
    try:
        proc_a = fleet.start("a", **job)
        fleet.start("b", **job)
        a, b = fleet.worker_id("a"), fleet.worker_id("b")
        poll(lambda: both_hold_half(fleet, a, b), 15, "a and b to own 10 mailboxes each")

        def stopped_holding_the_lock() -> bool:
            proc_a.send_signal(signal.SIGSTOP)
            wait_stopped(proc_a.pid)
            if fleet.holds_write_lock(proc_a):
                return True
            proc_a.send_signal(signal.SIGCONT)
            return False

        poll(stopped_holding_the_lock, 60, "a to be stopped inside a write")
        stopped_at = time.monotonic()
        held = {
            m for m, w in fleet.rows(f"SELECT mailbox_id, worker_id FROM {leases.name}") if w == a
        }
        poll(
            lambda: [e for e in fleet.events("b", "heartbeat_failed") if "locked" in e["error"]],
            10,
            "b's heartbeat to fail on the lock",
        )
        poll(lambda: time.monotonic() > stopped_at + TTL_MS / 1000 + 1, 10, "a's TTL to pass")
        still = {
            m for m, w in fleet.rows(f"SELECT mailbox_id, worker_id FROM {leases.name}") if w == a
        }
        assert still == held and len(held) == 10, "b took a's mailboxes while a held the lock"
        taken_at = fleet.scalar("SELECT {now}")
        proc_a.send_signal(signal.SIGCONT)
        poll(lambda: both_hold_half(fleet, a, b), 20, "the fleet to rebalance")
        epochs = dict(fleet.rows(f"SELECT mailbox_id, epoch FROM {leases.name}"))
        late = fleet.rows(
            "SELECT mailbox_id, epoch FROM warmup_cycles WHERE finished_at > :t", t=taken_at
        )
        assert all(epoch <= epochs[m] for m, epoch in late)
        assert_no_overlapping_cycles(fleet)
    finally:
        fleet.stop_all()
        db.dispose()


def test_mailboxes_added_and_deactivated_while_running(workers: Workers) -> None:
    """New active mailboxes are claimed and deactivated ones released while the workers run; no
    cycle starts on a deactivated mailbox, even before its lease is released."""
    workers.start("a")
    workers.start("b")
    a, b = workers.worker_id("a"), workers.worker_id("b")
    poll(lambda: both_hold_half(workers, a, b), 15, "a and b to own 10 mailboxes each")
    set_active_count(workers.db, 30)
    poll(
        lambda: sorted(m for m, w in workers.owners().items() if w) == list(range(1, 31)),
        10,
        "all 30 mailboxes to be owned",
    )
    set_active_count(workers.db, 12)
    deactivated_at = workers.scalar("SELECT {now}")
    poll(
        lambda: sorted(m for m, w in workers.owners().items() if w) == list(range(1, 13)),
        10,
        "only the 12 active mailboxes to be leased and owned",
    )
    poll(
        lambda: sorted(map(len, (workers.owned_by(a), workers.owned_by(b)))) == [6, 6],
        10,
        "a and b to own 6 each",
    )
    started = workers.scalar(
        "SELECT count(*) FROM warmup_cycles WHERE mailbox_id > 12 AND started_at > :t",
        t=deactivated_at,
    )
    assert started == 0, "a cycle started on a deactivated mailbox"


def test_a_database_outage_does_not_stop_the_worker(
    postgres_url: str, pg_server: Any, tmp_path: Path
) -> None:
    """With PostgreSQL down past the lease TTL the worker logs failed heartbeats and keeps
    running; once the server is back it claims its (expired) mailboxes anew, under new epochs,
    and records cycles again."""
    db = Database(postgres_url)
    upgrade(db)
    create_demo_tables(db)
    set_active_count(db, 5)
    fleet = Workers(db, postgres_url, tmp_path)
    try:
        proc = fleet.start("a")
        a = fleet.worker_id("a")
        poll(lambda: len(fleet.owned_by(a)) == 5, 15, "a to own the 5 mailboxes")
        epochs = dict(fleet.rows("SELECT mailbox_id, epoch FROM autoscaler_leases"))
        # The test server runs with synchronous_commit=off and stops with -m immediate, which
        # may lose the last commits; flush them, as a durable production server would have.
        with db.engine.connect() as conn:
            conn.execute(text("CHECKPOINT"))
        db.dispose()
        pg_server.stop()
        try:
            beats_past_ttl = TTL_MS // HEARTBEAT_MS + 2
            poll(
                lambda: len(fleet.events("a", "heartbeat_failed")) >= beats_past_ttl,
                20,
                "a to report failed heartbeats for longer than the TTL",
            )
            assert proc.poll() is None
        finally:
            pg_server.start()
        restarted_at = poll(lambda: _now_or_none(fleet), 20, "the database to answer")
        poll(
            lambda: fleet.scalar(
                "SELECT count(*) FROM warmup_cycles WHERE worker_id = :a AND started_at > :t",
                a=a,
                t=restarted_at,
            ),
            20,
            "a to record cycles again",
        )
        assert len(fleet.owned_by(a)) == 5
        renewed = dict(fleet.rows("SELECT mailbox_id, epoch FROM autoscaler_leases"))
        assert all(renewed[m] == epochs[m] + 1 for m in epochs), "expired leases are re-claimed"
        assert proc.poll() is None
    finally:
        fleet.stop_all()
        db.dispose()


def _now_or_none(fleet: Workers) -> int | None:
    try:
        return int(fleet.scalar("SELECT {now}"))
    except Exception:  # the server is still starting
        return None


def test_drain_cancels_cycles_still_running_at_the_deadline(
    database_url: str, tmp_path: Path
) -> None:
    """In process: a job that never ends is cancelled near the drain timeout; the worker still
    releases its leases, deregisters and returns 0; a failing job never stops the worker."""
    db = Database(database_url)
    upgrade(db)
    create_demo_tables(db)
    set_active_count(db, 6)
    sleeping: set[int] = set()  # the even mailboxes whose never-ending cycle has started

    async def job(cycle: Cycle) -> None:
        if cycle.mailbox_id % 2:
            raise RuntimeError("this job fails on odd mailboxes")
        sleeping.add(cycle.mailbox_id)
        await asyncio.sleep(3600)

    config = WorkerConfig(
        heartbeat_ms=HEARTBEAT_MS,
        lease_ttl_ms=TTL_MS,
        drain_timeout_ms=1500,
        cycle_interval_ms=200,
        concurrency=10,
        capacity=100,
    )
    worker = Worker(db, config, WorkerIdentity.create(name="inproc"), job)

    async def scenario() -> int:
        running = asyncio.create_task(worker.run())
        deadline = time.monotonic() + 15
        while worker.stats.failed < 3 or len(sleeping) < 3:  # cycles start spread over time
            assert time.monotonic() < deadline, (worker.stats, sleeping)
            await asyncio.sleep(POLL_S)
        worker.request_stop()
        return await asyncio.wait_for(running, 15)

    try:
        assert asyncio.run(scenario()) == 0
        fleet = Workers(db, database_url, tmp_path)
        assert worker.stats.cancelled == 3
        held = "SELECT count(*) FROM autoscaler_leases WHERE worker_id IS NOT NULL"
        assert fleet.scalar(held) == 0
        assert fleet.scalar("SELECT count(*) FROM autoscaler_workers") == 0
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("job", "migrated", "code", "message"),
    [
        (
            "nosuchmodule_q:run",
            True,
            2,
            "config error: AUTO_SCALER_WORKER_JOB=nosuchmodule_q:run: cannot import "
            "'nosuchmodule_q' (ModuleNotFoundError: No module named 'nosuchmodule_q')",
        ),
        (
            "record",
            False,
            1,
            "error: reading the worker registry failed: table 'autoscaler_workers' does not exist; "
            "run `warmup-autoscaler db init`",
        ),
    ],
    ids=["bad-job", "no-tables"],
)
def test_the_worker_command_fails_fast_with_one_line(
    sqlite_url: str, tmp_path: Path, job: str, migrated: bool, code: int, message: str
) -> None:
    """A job that cannot be loaded exits 2, missing tables exit 1: one line each, no traceback."""
    if migrated:
        db = Database(sqlite_url)
        upgrade(db)
        db.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTO_SCALER_")}
    env.update(DATABASE_URL=sqlite_url, AUTO_SCALER_WORKER_JOB=job, AUTO_SCALER_LOG_FORMAT="json")
    done = subprocess.run(
        [sys.executable, "-m", "warmup_autoscaler.worker"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr.strip()) == (code, message)
