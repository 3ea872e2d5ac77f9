"""What reacting to changes costs: the trigger on every write, and each probe at a million rows.

- **trigger**: `BENCH_REACTION_WRITES` (1,000) single-row autocommit INSERTs back to back on one
  connection into a table with the change trigger and into the same table without it, 5 rounds
  in turns, with a session LISTENing (as the daemon does) and drained after each round. The
  throwaway server runs with `fsync=off` and `synchronous_commit=off`, so its commits are far
  cheaper than a production server's and the ratio overstates the trigger's share.
- **probes** at `BENCH_REACTION_PROBE_ROWS` (1,000,000) demo mailboxes, 40% active, vacuumed, the
  status index in place; median of 20 each. PostgreSQL: the statistics counters the watcher reads
  when there is no trigger, against the count query. SQLite: `PRAGMA data_version`, which the probe
  reads every interval, against the count query it runs only when data_version has moved.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import psycopg

from warmup_autoscaler.config import DEFAULT_QUERY
from warmup_autoscaler.config.table_name import parse_table_name
from warmup_autoscaler.store import Database, create_demo_tables, seed_mailboxes
from warmup_autoscaler.watch.trigger import CHANNEL, install_change_trigger
from warmup_autoscaler.watch.watcher import STATS_SQL

__all__ = ["measure"]

ROUNDS = 5
SAMPLES = 20


def measure(pg_url: str, *, quick: bool = False) -> dict[str, float]:
    writes = int(os.environ.get("BENCH_REACTION_WRITES", 300 if quick else 1000))
    rows = int(os.environ.get("BENCH_REACTION_PROBE_ROWS", 100_000 if quick else 1_000_000))
    with_ms, without_ms = _trigger_cost(_new_database(pg_url, "costs_writes"), writes)
    print(
        f"single-row commit: {with_ms:.3f} ms with the trigger, {without_ms:.3f} ms without "
        f"({writes:,} commits x {ROUNDS} rounds)"
    )
    pg_probe, pg_count = _pg_probe_cost(_new_database(pg_url, "costs_probe"), rows)
    sqlite_probe, sqlite_count = _sqlite_probe_cost(rows)
    print(f"probes at {rows:,} mailboxes (medians of {SAMPLES}):")
    print(f"  PostgreSQL statistics counters {pg_probe:8.3f} ms, count query {pg_count:8.3f} ms")
    print(
        f"  SQLite PRAGMA data_version     {sqlite_probe:8.3f} ms, count query {sqlite_count:8.3f} ms"
    )
    return {
        "trigger_write_ms": with_ms,
        "plain_write_ms": without_ms,
        "pg_probe_ms": pg_probe,
        "pg_count_ms": pg_count,
        "sqlite_probe_ms": sqlite_probe,
        "sqlite_count_ms": sqlite_count,
    }


def _new_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _trigger_cost(url: str, writes: int) -> tuple[float, float]:
    dsn = url.replace("+psycopg", "")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in ("watched", "plain"):
            conn.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, email text NOT NULL)")
    db = Database(url)
    install_change_trigger(db, parse_table_name("watched"))
    db.dispose()
    times: dict[str, list[float]] = {"watched": [], "plain": []}
    with psycopg.connect(dsn, autocommit=True) as writer, psycopg.connect(dsn) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        listener.commit()
        for i in range(ROUNDS):
            for table in ("watched", "plain") if i % 2 == 0 else ("plain", "watched"):
                start = time.perf_counter()
                for n in range(writes):
                    writer.execute(f"INSERT INTO {table} (email) VALUES (%s)", (f"{i}-{n}",))
                times[table].append((time.perf_counter() - start) / writes * 1000)
                for _ in listener.notifies(timeout=0.2):
                    pass
    return statistics.median(times["watched"]), statistics.median(times["plain"])


def _seed(url: str, rows: int) -> None:
    db = Database(url)
    try:
        create_demo_tables(db)
        active = rows * 2 // 5
        seed_mailboxes(db, active, status="active")
        seed_mailboxes(db, rows - active, status="paused")
    finally:
        db.dispose()


def _pg_probe_cost(url: str, rows: int) -> tuple[float, float]:
    _seed(url, rows)
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        conn.execute("VACUUM ANALYZE mailboxes")
        return (
            _median_ms(lambda: conn.execute(STATS_SQL, {"table": '"mailboxes"'}).fetchall()),
            _median_ms(lambda: conn.execute(DEFAULT_QUERY).fetchall()),
        )


def _sqlite_probe_cost(rows: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/costs.db"
        _seed(f"sqlite:///{path}", rows)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("ANALYZE")
            return (
                _median_ms(lambda: conn.execute("PRAGMA data_version").fetchall()),
                _median_ms(lambda: conn.execute(DEFAULT_QUERY).fetchall()),
            )
        finally:
            conn.close()


def _median_ms(step: Callable[[], Any]) -> float:
    step()
    times = []
    for _ in range(SAMPLES):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000
