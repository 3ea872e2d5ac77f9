"""One check of the daemon against the bare count query it is built around.

PostgreSQL (a throwaway server started here) with 1,000,000 mailboxes, 400,000 of them active, the
status index in place, the migrations done and the table vacuumed beforehand. Two phases, each
timing its steps once a round in a rotating order, so that none always runs first or last:

Phase 1, the headline:
- `check`: the controller as `Daemon.build` wires it (the real `MailboxCounter`, the real
  `StateStore`, a `ManualPlatform` declaring 600 workers: 66.7%, within the band, so nothing is
  executed and every round does the same work; the worker registry; JSON logs, to /dev/null here),
  called as the daemon's loop calls it: `check(wait_journal=False)`, which returns once the
  decision is made, executed and published, and writes its journal row and sample afterwards. That
  write is timed on its own right after (`journal write, after`), outside the check, as it happens
  in the daemon (the next check waits for it, minutes later).
- `bare count`: `SELECT COUNT(*) FROM mailboxes WHERE status = 'active'` on a plain psycopg
  connection (autocommit, no pool, no SQLAlchemy, no thread).
- `bare count in a thread`: the same through `asyncio.to_thread`, the hop the check's count takes.

Phase 2, for information:
- `check, journal awaited`: a second controller over the same database without the registry or
  the samples, whose `check()` waits for its journal row to be committed (what
  `POST /api/auto-scaler/trigger` does), against the bare count again. It runs in a phase of its
  own because its writes slow every thread hop that follows them in a rotation, even the bare
  count's, which the daemon, with one controller, never sees.

Every timed step starts after 50 ms of idle time (`BENCH_CHECK_PAUSE_MS`; 0 times them back to
back), as the daemon idles between checks: a thread woken after idle time costs more than one
kept busy, and each step then starts from the same quiet state, not after the previous step's writes.

Sizes: `BENCH_CHECK_MAILBOXES`, `BENCH_CHECK_ACTIVE`, `BENCH_CHECK_ROUNDS` (or `--quick`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import psycopg

from bench.pg import throwaway_postgres
from warmup_autoscaler.config import DEFAULT_QUERY, Settings, load_settings
from warmup_autoscaler.controller import Controller
from warmup_autoscaler.daemon import Daemon
from warmup_autoscaler.logs import configure_logging
from warmup_autoscaler.platforms.manual import ManualPlatform
from warmup_autoscaler.sensor import MailboxCounter
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.demo import create_demo_tables, seed_mailboxes, set_active_count
from warmup_autoscaler.store.migrate import upgrade
from warmup_autoscaler.store.state import StateStore

__all__ = ["run"]

WORKERS = 600  # 400,000 active on 600 workers of 1,000: 66.7%, a hold in every round
GOAL_MS = 2.0  # the check may add at most this to the bare count
# Idle time before each timed step, as the daemon idles between checks; 0 times them back to back.
PAUSE_S = float(os.environ.get("BENCH_CHECK_PAUSE_MS", "50")) / 1000


def sizes(quick: bool) -> tuple[int, int, int]:
    total, active, rounds = (100_000, 40_000, 10) if quick else (1_000_000, 400_000, 30)
    return (
        int(os.environ.get("BENCH_CHECK_MAILBOXES", total)),
        int(os.environ.get("BENCH_CHECK_ACTIVE", active)),
        int(os.environ.get("BENCH_CHECK_ROUNDS", rounds)),
    )


def _controller(settings: Settings, db: Database, journal: Any) -> Controller:
    return Controller(
        settings=settings,
        counter=MailboxCounter(db, settings.database.mailbox_query),
        platform=ManualPlatform(workers=WORKERS),
        journal=journal,
        prepare=lambda: upgrade(db),
    )


def _quiet_json_logs() -> None:
    """Render every log line as the daemon does (JSON), but into /dev/null."""
    configure_logging("json", "info")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process


def _settle(conn: psycopg.Connection[Any]) -> None:
    """Leave the table as autovacuum would: statistics, and every page all-visible.

    The server runs with synchronous_commit=off, so a VACUUM right after the COPY may find the
    commits not yet flushed and leave the pages not all-visible; the count would then fetch every
    heap row (about twice as slow). A CHECKPOINT flushes them first.
    """
    conn.execute("CHECKPOINT")
    conn.execute("VACUUM ANALYZE mailboxes")
    row = conn.execute(
        "SELECT relpages, relallvisible FROM pg_class WHERE relname = 'mailboxes'"
    ).fetchone()
    assert row is not None
    plan = [r[0] for r in conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {DEFAULT_QUERY}")]
    scan = next((line for line in plan if "Scan" in line), "?")
    scan = re.sub(r"\s*\(actual.*", "", scan).strip(" ->")
    fetches = next((line.strip() for line in plan if "Heap Fetches" in line), "")
    print(f"pages all-visible: {row[1]:,} of {row[0]:,}; count plan: {scan}; {fetches}")


def run(*, quick: bool = False) -> dict[str, float]:
    total, active, rounds = sizes(quick)
    with throwaway_postgres("bench_check") as url:
        if url is None:
            return {}
        settings = load_settings(
            None,
            overrides={
                "DATABASE_URL": url,
                "AUTO_SCALER_PLATFORM": "manual",
                "AUTO_SCALER_MANUAL_WORKERS": WORKERS,
                "AUTO_SCALER_MAX_WORKERS": 1000,
                "AUTO_SCALER_MAILBOX_QUERY": DEFAULT_QUERY,
            },
        )
        _quiet_json_logs()
        t = time.perf_counter()
        database = settings.database
        db = Database(database.sqlalchemy_url, query_timeout_ms=database.query_timeout_ms)
        upgrade(db)
        create_demo_tables(db)
        seed_mailboxes(db, active, status="active")
        seed_mailboxes(db, total - active, status="paused")
        set_active_count(db, active)  # already so: the lowest ids active, the rest paused
        print(f"seeded {total:,} mailboxes ({active:,} active) in {time.perf_counter() - t:.1f} s")
        daemon = Daemon.build(settings)
        loop = asyncio.new_event_loop()
        awaited = _controller(settings, db, StateStore(db))
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as bare:
            _settle(bare)

            def bare_count() -> None:
                row = bare.execute(DEFAULT_QUERY).fetchone()
                assert row is not None and row[0] == active, row

            def checker(controller: Controller, *, wait_journal: bool) -> Callable[[], None]:
                def check() -> None:
                    result = loop.run_until_complete(
                        controller.check("bench", wait_journal=wait_journal)
                    )
                    assert result.success and result.decision is not None, result.error
                    assert result.decision.mailbox_count == active

                return check

            def flush() -> None:
                loop.run_until_complete(daemon.controller.flush())
                assert daemon.controller.last_error is None, daemon.controller.last_error

            def bare_count_in_thread() -> None:
                loop.run_until_complete(asyncio.to_thread(bare_count))

            # Phase 1, the headline: the daemon's check against the bare count, and the bare count
            # run through the same thread hop as the check's count.
            times = rotate(
                {
                    "bare count": bare_count,
                    "bare count in a thread": bare_count_in_thread,
                    "check": checker(daemon.controller, wait_journal=False),
                },
                rounds,
                after={"check": ("journal write, after", flush)},
            )
            # Phase 2, apart: a second controller's writes in the same rotation slow every
            # thread hop that follows them, even the bare count's (see BENCHMARKS.md).
            times |= rotate(
                {
                    "bare count (phase 2)": bare_count,
                    "check, journal awaited": checker(awaited, wait_journal=True),
                },
                rounds,
            )
        loop.close()
        daemon.close()
        db.dispose()
    med = {name: statistics.median(values) * 1000 for name, values in times.items()}
    base, base2 = med["bare count"], med["bare count (phase 2)"]
    print(f"{rounds} rounds per phase, in a rotating order; medians:")
    for name, ms in med.items():
        ref = base2 if name in ("bare count (phase 2)", "check, journal awaited") else base
        spread = max(times[name]) * 1000 - min(times[name]) * 1000
        print(f"  {name:<24} {ms:8.2f} ms  ratio {ms / ref:.3f}  (max-min {spread:.1f} ms)")
    ratio, over = med["check"] / base, med["check"] - base
    print(
        f"overhead: +{over:.2f} ms, ratio {ratio:.3f} (goal <= +{GOAL_MS:g} ms: "
        f"{'met' if over <= GOAL_MS else 'NOT met'})"
    )
    return {
        "check_ms": med["check"],
        "count_ms": base,
        "count_thread_ms": med["bare count in a thread"],
        "ratio": ratio,
        "check_awaited_ms": med["check, journal awaited"],
        "count_phase2_ms": base2,
        "journal_after_ms": med["journal write, after"],
    }


def rotate(
    steps: dict[str, Callable[[], None]],
    rounds: int,
    after: dict[str, tuple[str, Callable[[], None]]] | None = None,
) -> dict[str, list[float]]:
    """Time each step once a round, starting each round one step further along, after two
    untimed warm-up calls of each (pools, caches, the first journal load). `after[name]` is
    `(label, fn)`: `fn` runs right after that step, timed on its own under `label`."""
    after = after or {}
    for name, step in steps.items():
        for _ in range(2):
            step()
            if name in after:
                after[name][1]()
    times: dict[str, list[float]] = {name: [] for name in steps}
    times.update({label: [] for label, _ in after.values()})
    names = list(steps)
    for i in range(rounds):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            time.sleep(PAUSE_S)
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
            if name in after:
                label, fn = after[name]
                start = time.perf_counter()
                fn()
                times[label].append(time.perf_counter() - start)
    return times
