"""One full check (count, decide, journal, sample, fleet read) against the bare count query.

PostgreSQL with 1,000,000 mailboxes (400,000 active), a throwaway server started here. The check is
the daemon's own (`Daemon.build`), on the manual platform so nothing is executed; the baseline is
the same count query on a plain psycopg connection. Rounds alternate the two.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import psycopg

from bench.pg import throwaway_postgres
from warmup_autoscaler.config import load_settings
from warmup_autoscaler.daemon import Daemon
from warmup_autoscaler.store.demo import create_demo_tables, seed_mailboxes, set_active_count
from warmup_autoscaler.store.migrate import upgrade

QUERY = "SELECT COUNT(*) FROM mailboxes WHERE status = 'active'"


def run(*, quick: bool = False) -> dict[str, float]:
    total, active, rounds = (100_000, 40_000, 10) if quick else (1_000_000, 400_000, 30)
    with throwaway_postgres() as url:
        if url is None:
            return {}
        settings = load_settings(
            None,
            database_url=url,
            platform="manual",
            manual_workers=600,
            check_interval_ms=1000,
        )
        daemon = Daemon.build(settings)
        upgrade(daemon.db)
        create_demo_tables(daemon.db)
        seed_mailboxes(daemon.db, total)
        set_active_count(daemon.db, active)
        with psycopg.connect(url.replace("+psycopg", "")) as bare:
            bare.execute("ANALYZE mailboxes")
            ours, base = [], []
            loop = asyncio.new_event_loop()
            loop.run_until_complete(daemon.controller.check("cli"))  # warm: migrations, pool
            for _ in range(rounds):
                t = time.perf_counter()
                bare.execute(QUERY).fetchone()
                base.append(time.perf_counter() - t)
                t = time.perf_counter()
                result = loop.run_until_complete(daemon.controller.check("cli"))
                ours.append(time.perf_counter() - t)
                assert result.success, result.error
            loop.close()
        daemon.close()
    o, b = statistics.median(ours) * 1000, statistics.median(base) * 1000
    print(
        f"{total:,} mailboxes ({active:,} active), {rounds} alternating rounds: "
        f"full check {o:.1f} ms, bare count {b:.1f} ms (medians); overhead ratio {o / b:.3f} "
        f"(goal <= 1.1)"
    )
    return {"check_ms": o, "count_ms": b}
