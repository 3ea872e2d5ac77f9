"""Claim throughput on PostgreSQL: 100 workers taking 100,000 unowned mailboxes at once.

100 `LeaseKeeper`s (capacity 1,000 each), driven from 16 threads (each its own connection pool,
as each worker process has), heartbeat until every one holds its share and every mailbox is owned;
the lease rows exist and are unowned when the clock starts. Ours claims with the product's
`FOR UPDATE SKIP LOCKED`; the baseline is the same keepers, threads and statement without
`SKIP LOCKED`, so concurrent claims queue on each other's row locks: the one choice measured.
Measured twice: by whole heartbeats (what a starting worker does: register, read the membership,
claim), and by the claim statement alone (`LeaseStore.claim`, 1,000 rows a statement, the
keepers registered beforehand). Rounds alternate ours and the baseline, with the pool reset (and
vacuumed) before each.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid

from sqlalchemy import text

from bench.pg import throwaway_postgres
from bench.rebalance import prepare
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.leases import SQL
from warmup_autoscaler.store.worker_schema import worker_sql
from warmup_autoscaler.worker import LeaseKeeper, SyncPolicy, WorkerIdentity

__all__ = ["run"]

ACTIVE_QUERY = "SELECT * FROM mailboxes WHERE status = 'active'"
TTL_MS = 600_000  # nothing expires during a round
MAX_BEATS = 50  # per keeper, so a claim that never completes fails the round instead of hanging
NAIVE = worker_sql(SQL["claim"], "postgresql", skip_locked=" FOR UPDATE")


def _reset(db: Database) -> None:
    """Every lease unowned (epochs kept), no workers, dead rows vacuumed away."""
    with db.begin_write() as conn:
        conn.execute(text("DELETE FROM autoscaler_workers"))  # which releases every lease
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE autoscaler_leases, autoscaler_workers"))


def _keepers(
    pools: list[Database], workers: int, capacity: int, *, naive: bool
) -> list[LeaseKeeper]:
    keepers = []
    for i in range(workers):
        me = WorkerIdentity(id=uuid.uuid4().hex, name=f"w{i}", host="bench", pid=i)
        keeper = LeaseKeeper(
            pools[i % len(pools)],
            me,
            lease_ttl_ms=TTL_MS,
            capacity=capacity,
            active_query=ACTIVE_QUERY,
            sync=SyncPolicy(duty=1.0),
        )
        if naive:  # the baseline: swap the one statement, keep everything else
            keeper.leases._sql["claim"] = NAIVE
        keepers.append(keeper)
    return keepers


def _round(
    db: Database, pools: list[Database], workers: int, total: int, *, naive: bool, alone: bool
) -> float:
    """Seconds until all `workers` keepers hold their share, by heartbeats or (`alone`) by the
    claim statement alone; checks that every mailbox is owned, by the right number of workers."""
    _reset(db)
    capacity = total // workers
    keepers = _keepers(pools, workers, capacity, naive=naive)
    if alone:
        for keeper in keepers:
            keeper.registry.join(keeper.me, "active")
    threads = len(pools)
    start = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def drive(mine: list[LeaseKeeper]) -> None:
        start.wait()
        try:
            for keeper in mine:
                held = 0
                for _ in range(MAX_BEATS):
                    if alone:
                        held += len(keeper.leases.claim(keeper.me.id, capacity - held))
                    else:
                        held = len(keeper.heartbeat().owned)
                    if held >= capacity:
                        break
                else:
                    raise RuntimeError(f"{keeper.me.name} never reached {capacity}")
        except BaseException as exc:
            errors.append(exc)

    group = [threading.Thread(target=drive, args=(keepers[t::threads],)) for t in range(threads)]
    for thread in group:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in group:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    with db.engine.connect() as conn:
        owned, owners = conn.execute(
            text("SELECT count(worker_id), count(DISTINCT worker_id) FROM autoscaler_leases")
        ).one()
    if (owned, owners) != (total, workers):
        raise RuntimeError(f"{owned} mailboxes owned by {owners} workers after the round")
    return elapsed


def run(*, quick: bool = False) -> dict[str, float]:
    workers, total, threads, rounds = (20, 20_000, 8, 2) if quick else (100, 100_000, 16, 5)
    with throwaway_postgres() as url:
        if url is None:
            return {}
        db = Database(url)
        pools = [Database(url) for _ in range(threads)]
        try:
            prepare(db, total)
            leader = _keepers([db], 1, 1, naive=False)[0]
            leader.heartbeat()
            leader.sync()  # the leader's sync creates the lease rows, off the clock
            leader.close()
            for pool in pools:
                with pool.engine.connect():  # connections open before the clock starts
                    pass
            figures = {}
            for alone, label in ((False, "heartbeats"), (True, "claim statement alone")):
                ours, base = [], []
                for _ in range(rounds):
                    ours.append(_round(db, pools, workers, total, naive=False, alone=alone))
                    base.append(_round(db, pools, workers, total, naive=True, alone=alone))
                figures[label] = _report(label, workers, total, threads, ours, base)
        finally:
            for pool in [db, *pools]:
                pool.dispose()
    return {
        "claims_per_s": figures["heartbeats"][0],
        "naive_claims_per_s": figures["heartbeats"][1],
    }


def _report(
    label: str, workers: int, total: int, threads: int, ours: list[float], base: list[float]
) -> tuple[float, float]:
    o, b = total / statistics.median(ours), total / statistics.median(base)
    print(
        f"{label}: {workers} workers claiming {total:,} mailboxes from {threads} threads, "
        f"{len(ours)} alternating rounds (medians): SKIP LOCKED {statistics.median(ours):.2f} s "
        f"= {o:,.0f} claims/s; without {statistics.median(base):.2f} s = {b:,.0f} claims/s; "
        f"ratio {o / b:.2f}"
    )
    print("  per round (s): ours " + ", ".join(f"{x:.2f}" for x in ours))
    print("  per round (s): base " + ", ".join(f"{x:.2f}" for x in base))
    return o, b
