"""Worker coordination at scale: what a heartbeat costs PostgreSQL, today's design against the
new one, and what rebalancing does, at up to a million mailboxes and a thousand workers.

A throwaway PostgreSQL 15 server (with pg_stat_statements), the demo `mailboxes` table with M
active rows, and W `LeaseKeeper`s simulated in this process (`bench.coordination_fleet`), one
round standing for five seconds of a real fleet. The baseline is today's statements
(`bench.coordination_baseline`) on tables of their own in the same database, in the steady
state they reach (each worker holding its share). Sizes: `BENCH_COORD_SIZES` (default
"100000:100,1000000:1000"; --quick "5000:5,20000:20"), `BENCH_COORD_ROUNDS` (ours, default 3
rounds of every worker), `BENCH_COORD_BASELINE_BEATS` (a sample of the baseline's followers,
default 40), `BENCH_COORD_STEADY_S` (default 60).

For each size: time per heartbeat as the worker sees it (every round trip included, so an upper
bound of the database's time), median and p99, and the database's own time per heartbeat
(pg_stat_statements' total_exec_time over the heartbeats). Ours runs the lease sync off the
heartbeat, so its cost is reported apart, with the interval its policy gives it. At the largest
size also (`bench.coordination_scenarios`): a steady minute (rows written per heartbeat, the
lease table's dead tuples against a copy nobody writes), a join, a drain and a SIGKILL (moves
against the fewest possible, rounds until all owned), and 100,000 mailboxes added, then
100,000 deactivated.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from typing import Any

from sqlalchemy import text

from bench.coordination_baseline import BaselineKeeper, create_baseline, fill_baseline
from bench.coordination_fleet import ACTIVE_QUERY, TTL_MS, SimFleet
from bench.coordination_scenarios import scenarios
from bench.pg import throwaway_postgres
from bench.rebalance import prepare
from warmup_autoscaler.store.database import Database

__all__ = ["run"]

CAPACITY = 1000  # AUTO_SCALER_MAILBOXES_PER_WORKER's default
SETTINGS = "shared_preload_libraries = 'pg_stat_statements'\nmax_wal_size = '4GB'"


def run(*, quick: bool = False) -> dict[str, float]:
    default = "5000:5,20000:20" if quick else "100000:100,1000000:1000"
    sizes = [
        (int(m), int(w))
        for m, w in (s.split(":") for s in os.environ.get("BENCH_COORD_SIZES", default).split(","))
    ]
    figures: dict[str, float] = {}
    with throwaway_postgres("coord", settings=SETTINGS) as url:
        if url is None:
            return {}
        db = Database(url, query_timeout_ms=600_000)
        try:
            with db.begin_write() as conn:
                conn.execute(text("CREATE EXTENSION pg_stat_statements"))
            for n, (mailboxes, workers) in enumerate(sizes):
                largest = n == len(sizes) - 1
                sim = SimFleet(db, workers, CAPACITY)
                figures |= _size(sim, mailboxes, tag="large" if largest else "small")
                if largest:
                    figures |= scenarios(sim, mailboxes, steady_s=_steady_s(quick))
        finally:
            db.dispose()
    return figures


def _steady_s(quick: bool) -> float:
    return float(os.environ.get("BENCH_COORD_STEADY_S", "6" if quick else "60"))


def _size(sim: SimFleet, mailboxes: int, *, tag: str) -> dict[str, float]:
    """Our heartbeats and the baseline's at one size; leaves `sim` settled."""
    db, workers = sim.db, len(sim.keepers)
    label = f"{mailboxes:,} mailboxes, {workers:,} workers"
    began = time.monotonic()
    prepare(db, mailboxes)
    sim.round()  # the oldest registers and syncs (the lease rows); the others claim
    initial = sim.syncs[-1]
    sim.rounds_until_settled()
    _vacuum(db)
    print(
        f"[{label}] set up in {time.monotonic() - began:.0f} s; first lease sync "
        f"{initial.took_ms / 1000:.1f} s for {initial.inserted:,} new rows"
    )
    rounds = int(os.environ.get("BENCH_COORD_ROUNDS", "3"))
    _reset_statements(db)
    ours = [t for _ in range(rounds) for t in sim.round()]
    ours_db = _statement_ms(db) / len(ours)
    steady = _steady_sync(sim)

    create_baseline(db)
    ids = fill_baseline(db, workers, TTL_MS)
    _vacuum(db, "baseline_leases", "baseline_workers")
    keepers = [
        BaselineKeeper(db, i, ttl_ms=TTL_MS, capacity=CAPACITY, active_query=ACTIVE_QUERY)
        for i in ids
    ]
    leader_s = _timed(keepers[0].heartbeat)
    sample = int(os.environ.get("BENCH_COORD_BASELINE_BEATS", "40"))
    picks = random.Random(11).choices(keepers[1:] or keepers, k=sample)
    _reset_statements(db)
    base = [_timed(keeper.heartbeat) for keeper in picks]
    base_db = _statement_ms(db) / len(base)
    with db.begin_write() as conn:
        conn.execute(text("DROP TABLE baseline_leases, baseline_workers"))

    o_med, o_p99 = _ms(statistics.median(ours)), _ms(_p99(ours))
    b_med, b_p99 = _ms(statistics.median(base)), _ms(_p99(base))
    print(
        f"[{label}] heartbeat, ours ({len(ours):,} = {rounds} rounds of every worker): median "
        f"{o_med:.3f} ms, p99 {o_p99:.3f} ms, database's own time {ours_db:.3f} ms a heartbeat"
    )
    print(
        f"[{label}] heartbeat, baseline ({len(base)} followers): median {b_med:.1f} ms, p99 "
        f"{b_p99:.1f} ms, database's own time {base_db:.1f} ms; the leader's (it also synced) "
        f"{leader_s * 1000:.0f} ms; ratio of medians {b_med / o_med:.0f}x"
    )
    share = steady["compared_ms"] / steady["gap_ms"]
    print(
        f"[{label}] lease sync, ours (off the heartbeat, nothing to change): {steady['took_ms']} "
        f"ms, of which {steady['compared_ms']} ms comparing, every {steady['gap_ms'] / 1000:.1f} s"
        f" = {share:.1%} of the time; per heartbeat at 5 s heartbeats: "
        f"{steady['took_ms'] * 5000 / steady['gap_ms'] / workers:.3f} ms. Baseline: its leader "
        f"syncs on each of its heartbeats: {leader_s * 1000 / workers:.3f} ms per heartbeat"
    )
    return {
        f"{tag}_mailboxes": mailboxes,
        f"{tag}_workers": workers,
        f"{tag}_ours_ms": o_med,
        f"{tag}_ours_p99_ms": o_p99,
        f"{tag}_ours_db_ms": ours_db,
        f"{tag}_base_ms": b_med,
        f"{tag}_base_p99_ms": b_p99,
        f"{tag}_base_db_ms": base_db,
    }


def _steady_sync(sim: SimFleet) -> dict[str, int]:
    """One sync with nothing to change, and the interval the runtime's policy gives it."""
    sim.force_sync_due()
    sim.round()
    last = sim.syncs[-1]
    policy = sim.keepers[0].syncer.policy
    return {
        "took_ms": last.took_ms,
        "compared_ms": last.compared_ms,
        "gap_ms": policy.gap_ms(last.compared_ms),
    }


def _timed(fn: Any) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def _ms(seconds: float) -> float:
    return seconds * 1000


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _reset_statements(db: Database) -> None:
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_statements_reset()"))
        conn.commit()


def _statement_ms(db: Database) -> float:
    """The database's own time (ms) in every statement since the last reset, these excluded."""
    with db.engine.connect() as conn:
        total = conn.execute(
            text(
                "SELECT coalesce(sum(total_exec_time), 0) FROM pg_stat_statements "
                "WHERE query NOT LIKE '%pg_stat_statements%'"
            )
        ).scalar_one()
    return float(total)


def _vacuum(db: Database, *tables: str) -> None:
    """As autovacuum leaves a table at rest: dead rows gone, visibility map set, statistics."""
    names = ", ".join(tables or ("autoscaler_leases", "autoscaler_workers", "autoscaler_fleet"))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM ANALYZE {names}, mailboxes"))
