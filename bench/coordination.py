"""Worker coordination at scale: what a heartbeat costs PostgreSQL, today's design against the
new one, and what rebalancing does, at up to a million mailboxes and a thousand workers.

One throwaway PostgreSQL 15 server (with pg_stat_statements) and one database per size, each
with the demo `mailboxes` table holding M active rows, W `LeaseKeeper`s simulated in this
process (`bench.coordination_fleet`; a round, every worker once, stands for five seconds of a
real fleet), and the baseline, today's statements (`bench.coordination_baseline`), on tables of
their own in the same database, in the steady state they reach. Sizes: `BENCH_COORD_SIZES`
(default "100000:100,1000000:1000"; --quick "5000:5,20000:20"); `BENCH_COORD_ROUNDS` (default
4), each round timing one round of our heartbeats and `BENCH_COORD_BASELINE_BEATS` (default 10)
of the baseline's, at every size in turn, so every figure is taken under the same load.

Per heartbeat, three figures: *heartbeat*, the wall time of `heartbeat()` as the worker sees it;
*in the database*, the time from sending each statement to having its result, summed (round
trips included, our Python between statements not); and the server's own time
(pg_stat_statements' total_exec_time / heartbeats). Medians and p99. The objects of the other
simulated workers are frozen out of Python's garbage collector (`gc.freeze()`): one process
holding a thousand workers' state is the simulation's, not a worker's. Ours runs the lease sync
off the heartbeat; its cost is reported apart with the interval its policy gives it. At the
largest size also (`bench.coordination_scenarios`): a steady minute, a join, a drain, a
SIGKILL, 100,000 mailboxes added and 100,000 deactivated.
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text

from bench.coordination_baseline import BaselineKeeper, create_baseline, fill_baseline
from bench.coordination_fleet import ACTIVE_QUERY, TTL_MS, SimFleet
from bench.coordination_scenarios import scenarios
from bench.pg import throwaway_postgres
from bench.rebalance import prepare
from warmup_autoscaler.store.database import Database

__all__ = ["run"]

CAPACITY = 1000  # AUTO_SCALER_MAILBOXES_PER_WORKER's default
SETTINGS = "shared_preload_libraries = 'pg_stat_statements'\nmax_wal_size = '4GB'"


class StatementClock:
    """Seconds spent between sending a statement and having its result, on every engine of a
    Database, since the last `reset()`."""

    def __init__(self, db: Database) -> None:
        self.spent = 0.0
        self._started = 0.0
        for engine in {db.engine, db.reader}:
            event.listen(engine, "before_cursor_execute", self._before)
            event.listen(engine, "after_cursor_execute", self._after)

    def reset(self) -> float:
        spent, self.spent = self.spent, 0.0
        return spent

    def _before(self, *_: Any) -> None:
        self._started = time.perf_counter()

    def _after(self, *_: Any) -> None:
        self.spent += time.perf_counter() - self._started


@dataclass(kw_only=True)
class Size:
    """One size: its database, our fleet, the baseline's workers and what was measured."""

    mailboxes: int
    db: Database
    name: str
    sim: SimFleet
    base: list[BaselineKeeper]
    clock: StatementClock
    ours: list[float] = field(default_factory=list)
    ours_db: list[float] = field(default_factory=list)
    ours_server_ms: float = 0.0
    theirs: list[float] = field(default_factory=list)
    theirs_db: list[float] = field(default_factory=list)
    theirs_server_ms: float = 0.0
    leader_s: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.mailboxes:,} mailboxes, {len(self.sim.keepers):,} workers"


def run(*, quick: bool = False) -> dict[str, float]:
    default = "5000:5,20000:20" if quick else "100000:100,1000000:1000"
    sizes = [
        (int(m), int(w))
        for m, w in (s.split(":") for s in os.environ.get("BENCH_COORD_SIZES", default).split(","))
    ]
    rounds = int(os.environ.get("BENCH_COORD_ROUNDS", "4"))
    beats = int(os.environ.get("BENCH_COORD_BASELINE_BEATS", "10"))
    steady_s = float(os.environ.get("BENCH_COORD_STEADY_S", "6" if quick else "60"))
    with throwaway_postgres("coord", settings=SETTINGS) as url:
        if url is None:
            return {}
        made: list[Size] = []
        try:
            for n, (mailboxes, workers) in enumerate(sizes):
                made.append(_set_up(url, f"coord{n}", mailboxes, workers))
            gc.collect()
            gc.freeze()
            for _ in range(rounds):
                for size in made:
                    _measure(size, beats)
            figures: dict[str, float] = {}
            for size, tag in zip(made, ["small"] * (len(made) - 1) + ["large"], strict=True):
                figures |= _report(size, tag)
            gc.unfreeze()
            largest = made[-1]
            return figures | scenarios(largest.sim, largest.mailboxes, steady_s=steady_s)
        finally:
            for size in made:
                size.db.dispose()


def _set_up(url: str, name: str, mailboxes: int, workers: int) -> Size:
    began = time.monotonic()
    admin = Database(url)
    try:
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
    finally:
        admin.dispose()
    db = Database(url.rsplit("/", 1)[0] + f"/{name}", query_timeout_ms=600_000)
    with db.begin_write() as conn:
        conn.execute(text("CREATE EXTENSION pg_stat_statements"))
    prepare(db, mailboxes)
    sim = SimFleet(db, workers, CAPACITY)
    sim.round()  # the oldest registers and syncs (the lease rows); the others claim
    initial = sim.syncs[-1]
    sim.rounds_until_settled()
    create_baseline(db)
    ids = fill_baseline(db, workers, TTL_MS)
    base = [
        BaselineKeeper(db, i, ttl_ms=TTL_MS, capacity=CAPACITY, active_query=ACTIVE_QUERY)
        for i in ids
    ]
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))  # as autovacuum leaves tables at rest
    size = Size(mailboxes=mailboxes, db=db, name=name, sim=sim, base=base, clock=StatementClock(db))
    size.leader_s = _timed(base[0].heartbeat)
    print(
        f"[{size.label}] set up in {time.monotonic() - began:.0f} s; our first lease sync "
        f"{initial.took_ms / 1000:.1f} s for {initial.inserted:,} new rows"
    )
    return size


def _measure(size: Size, beats: int) -> None:
    """One round of our heartbeats, then `beats` of the baseline's (random followers)."""
    server = _server_ms(size)
    ticks = []
    for keeper in list(size.sim.keepers):
        size.clock.reset()
        began = time.perf_counter()
        ticks.append((keeper, keeper.heartbeat()))
        size.ours.append(time.perf_counter() - began)
        size.ours_db.append(size.clock.reset())
    size.ours_server_ms += _server_ms(size) - server
    for keeper, tick in ticks:  # what the runtime does next (a sync, when due), not timed
        size.sim.follow(keeper, tick)
    followers = size.base[1:] or size.base
    server = _server_ms(size)
    for keeper in random.Random(len(size.theirs)).choices(followers, k=beats):
        size.clock.reset()
        size.theirs.append(_timed(keeper.heartbeat))
        size.theirs_db.append(size.clock.reset())
    size.theirs_server_ms += _server_ms(size) - server


def _report(size: Size, tag: str) -> dict[str, float]:
    ms = 1000
    o, od = statistics.median(size.ours) * ms, statistics.median(size.ours_db) * ms
    t, td = statistics.median(size.theirs) * ms, statistics.median(size.theirs_db) * ms
    o_server = size.ours_server_ms / len(size.ours)
    t_server = size.theirs_server_ms / len(size.theirs)
    print(
        f"[{size.label}] ours, {len(size.ours):,} heartbeats: heartbeat median {o:.3f} ms, "
        f"p99 {_p99(size.ours) * ms:.3f} ms; in the database median {od:.3f} ms, p99 "
        f"{_p99(size.ours_db) * ms:.3f} ms; the server's own time {o_server:.3f} ms a heartbeat"
    )
    print(
        f"[{size.label}] baseline, {len(size.theirs)} followers' heartbeats: heartbeat median "
        f"{t:.1f} ms, p99 {_p99(size.theirs) * ms:.1f} ms; in the database median {td:.1f} ms; "
        f"the server's own time {t_server:.1f} ms; its leader's heartbeat (which also syncs) "
        f"{size.leader_s * ms:.0f} ms; ratio of heartbeat medians {t / o:.0f}x"
    )
    steady = _steady_sync(size.sim)
    workers = len(size.sim.keepers)
    print(
        f"[{size.label}] lease sync, ours (off the heartbeat; nothing to change): "
        f"{steady['took_ms']} ms, {steady['compared_ms']} ms of it comparing, every "
        f"{steady['gap_ms'] / 1000:.1f} s: per heartbeat at 5 s heartbeats "
        f"{steady['took_ms'] * 5000 / steady['gap_ms'] / workers:.3f} ms. The baseline's leader "
        f"syncs on each of its heartbeats: {size.leader_s * ms / workers:.3f} ms per heartbeat"
    )
    return {
        f"{tag}_mailboxes": size.mailboxes,
        f"{tag}_workers": workers,
        f"{tag}_ours_ms": o,
        f"{tag}_ours_p99_ms": _p99(size.ours) * ms,
        f"{tag}_ours_db_ms": od,
        f"{tag}_ours_db_p99_ms": _p99(size.ours_db) * ms,
        f"{tag}_ours_server_ms": o_server,
        f"{tag}_base_ms": t,
        f"{tag}_base_p99_ms": _p99(size.theirs) * ms,
        f"{tag}_base_db_ms": td,
        f"{tag}_base_server_ms": t_server,
    }


def _steady_sync(sim: SimFleet) -> dict[str, int]:
    """One sync with nothing to change, and the interval the runtime's policy gives it."""
    sim.force_sync_due()
    sim.round()
    last = sim.syncs[-1]
    return {
        "took_ms": last.took_ms,
        "compared_ms": last.compared_ms,
        "gap_ms": sim.keepers[0].syncer.policy.gap_ms(last.compared_ms),
    }


def _server_ms(size: Size) -> float:
    """The server's own time (ms) in every statement run so far in this size's database."""
    with size.db.engine.connect() as conn:
        total = conn.execute(
            text(
                "SELECT coalesce(sum(s.total_exec_time), 0) FROM pg_stat_statements AS s "
                "JOIN pg_database AS d ON d.oid = s.dbid WHERE d.datname = :name "
                "AND s.query NOT LIKE '%pg_stat_statements%'"
            ),
            {"name": size.name},
        ).scalar_one()
    return float(total)


def _timed(fn: Any) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
