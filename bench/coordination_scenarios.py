"""The scenarios `bench.coordination` runs on its largest fleet, in this order: a steady minute,
a join, a drain, a SIGKILL, mailboxes added in one transaction, mailboxes deactivated.

Rounds are counted from the event (a round: every worker heartbeats once, as in five seconds of
a real fleet); "settled" means every active mailbox is held under a valid lease and no worker
holds more than one mailbox more than another.
"""

from __future__ import annotations

import random
import time

from sqlalchemy import bindparam, text

from bench.coordination_fleet import HEARTBEAT_MS, SimFleet, counts, moved
from bench.rebalance import minimum_moves
from warmup_autoscaler.store.database import Database, now_ms_sql
from warmup_autoscaler.store.demo import seed_mailboxes
from warmup_autoscaler.store.worker_schema import fleet, leases, workers
from warmup_autoscaler.worker import to_release

__all__ = ["scenarios"]

CONTROL = "coordination_control"  # a copy of the lease table that nobody writes
SAMPLE = 1000  # deactivated mailboxes whose cycle start is tried


def scenarios(sim: SimFleet, mailboxes: int, *, steady_s: float) -> dict[str, float]:
    figures = steady_minute(sim, steady_s)
    sim.capacity *= 2  # headroom for what follows: the auto-scaler would add workers otherwise
    for keeper in sim.keepers:
        keeper.capacity = sim.capacity
    figures |= join(sim)
    figures |= leave(sim, drain=True)
    figures |= leave(sim, drain=False)
    changed = min(100_000, mailboxes // 10)
    figures |= added(sim, changed)
    figures |= deactivated(sim, changed)
    return figures


def steady_minute(sim: SimFleet, seconds: float) -> dict[str, float]:
    """Every worker heartbeating every HEARTBEAT_MS for `seconds`, paced as a real fleet."""
    db = sim.db
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {CONTROL}"))
        conn.execute(text(f"CREATE TABLE {CONTROL} AS SELECT * FROM {leases.name}"))
        for table in (leases.name, CONTROL):
            conn.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
        conn.execute(text(f"VACUUM ANALYZE {leases.name}, {CONTROL}"))
    ours = (leases.name, workers.name, fleet.name)
    before = _table_stats(db, (*ours, CONTROL))
    period_s = HEARTBEAT_MS / 1000
    beats, syncs = 0, len(sim.syncs)
    started = time.monotonic()
    for r in range(max(1, round(seconds / period_s))):
        for i, keeper in enumerate(list(sim.keepers)):
            due = started + r * period_s + i * period_s / len(sim.keepers)
            time.sleep(max(0.0, due - time.monotonic()))  # pacing, as a fleet spreads its beats
            sim.beat(keeper)
            beats += 1
    elapsed = time.monotonic() - started
    after = _table_stats(db, (*ours, CONTROL))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"ALTER TABLE {leases.name} RESET (autovacuum_enabled)"))
        conn.execute(text(f"DROP TABLE {CONTROL}"))
    delta = {t: [a - b for a, b in zip(after[t], before[t], strict=True)] for t in after}
    written = {t: sum(delta[t][:3]) for t in ours}
    per_beat = sum(written.values()) / beats
    print(
        f"steady {elapsed:.0f} s, {beats:,} heartbeats ({len(sim.keepers):,} workers every "
        f"{period_s:.0f} s): rows written per heartbeat {per_beat:.3f} (leases "
        f"{written[leases.name]:,}, registrations {written[workers.name]:,}, fleet row "
        f"{written[fleet.name]:,}); dead tuples added: lease table {delta[leases.name][3]:,}, "
        f"its unwritten copy {delta[CONTROL][3]:,}; lease syncs meanwhile: "
        f"{[s.took_ms for s in sim.syncs[syncs:]]} ms"
    )
    return {
        "steady_rows_per_beat": per_beat,
        "steady_lease_dead": delta[leases.name][3],
        "steady_control_dead": delta[CONTROL][3],
    }


def join(sim: SimFleet) -> dict[str, float]:
    before = sim.owners()
    workers_before = len(sim.keepers)
    newcomer = sim.add()
    sim.beat(newcomer)  # its first heartbeat registers it; the others learn at theirs
    rounds = sim.rounds_until_settled()
    after = sim.owners()
    n, least = moved(before, after), minimum_moves(counts(before), workers_before + 1, len(after))
    share = sum(1 for o in after.values() if o == newcomer.me.id)
    print(
        f"join {workers_before:,} -> {workers_before + 1:,}: moved {n:,}, minimum {least:,}, "
        f"ratio {n / least:.3f} (goal <= 1.05); settled {rounds} round(s) after the newcomer "
        f"registered (it holds {share:,})"
    )
    return {"join_ratio": n / least, "join_rounds": rounds}


def leave(sim: SimFleet, *, drain: bool) -> dict[str, float]:
    """A worker drains (SIGTERM) or is killed (SIGKILL: its registration simply expires)."""
    before = sim.owners()
    leaver = sim.keepers[len(sim.keepers) // (2 if drain else 3)]
    held = sum(1 for o in before.values() if o == leaver.me.id)
    sim.keepers.remove(leaver)
    if drain:
        leaver.set_draining()
        leaver.release(to_release(leaver.heartbeat(draining=True)))
        leaver.close()
    else:
        with sim.db.begin_write() as conn:
            conn.execute(
                text(
                    f"UPDATE {workers.name} SET expires_at = {now_ms_sql('postgresql')} - 1 "
                    "WHERE id = :id"
                ),
                {"id": leaver.me.id},
            )
    rounds = sim.rounds_until_settled()
    n = moved(before, sim.owners())
    how = "drain" if drain else "SIGKILL (registration expired)"
    print(
        f"{how} of one of {len(sim.keepers) + 1:,}: moved {n:,}, minimum {held:,} (its own), "
        f"ratio {n / held:.3f}; settled {rounds} round(s) after"
    )
    key = "drain" if drain else "kill"
    return {f"{key}_ratio": n / held, f"{key}_rounds": rounds}


def added(sim: SimFleet, n: int) -> dict[str, float]:
    """`n` mailboxes added in one transaction: leased at the next sync, owned after it."""
    seed_mailboxes(sim.db, n)  # one transaction (COPY)
    waiting = _active(sim.db) - len(sim.owners())
    syncs = len(sim.syncs)
    sim.force_sync_due()  # the next sync, now rather than up to a sync interval later
    rounds = sim.rounds_until_settled()
    inserted = sum(s.inserted for s in sim.syncs[syncs:])
    print(
        f"added {n:,} mailboxes in one transaction: {waiting:,} without a lease row until the "
        f"next sync; it inserted {inserted:,} in {sim.syncs[syncs].took_ms / 1000:.1f} s, and "
        f"every mailbox was owned and the fleet balanced {rounds} round(s) after it started "
        "(goal: within two heartbeats)"
    )
    return {"added_rounds": rounds}


def deactivated(sim: SimFleet, n: int) -> dict[str, float]:
    """`n` mailboxes spread over all workers deactivated: no cycle starts for them, their owners
    release them once the next sync has marked them, a later sync deletes their rows."""
    db = sim.db
    ids = sorted(m for m, o in sim.owners().items() if o is not None)
    gone = ids[:: max(1, len(ids) // n)][:n]
    with db.begin_write() as conn:
        conn.execute(
            text("UPDATE mailboxes SET status = 'paused' WHERE id = ANY(:ids)"), {"ids": gone}
        )
    stays = sorted(set(ids) - set(gone))
    refused = _cycle_starts(sim, random.Random(1).sample(gone, min(SAMPLE, len(gone))))
    allowed = _cycle_starts(sim, random.Random(2).sample(stays, min(SAMPLE, len(stays))))
    syncs = len(sim.syncs)
    sim.force_sync_due()
    rounds = 0
    while len(sim.syncs) == syncs or _held_retired(db):
        sim.round()
        rounds += 1
        if rounds > 10:
            raise RuntimeError("deactivated mailboxes still held after 10 rounds")
    sim.force_sync_due()
    sim.round()
    retired = sum(s.retired for s in sim.syncs[syncs:])
    deleted = sum(s.deleted for s in sim.syncs[syncs:])
    print(
        f"deactivated {len(gone):,}: cycles their owners could start on {SAMPLE:,} of them "
        f"(before any sync): {refused}, on {SAMPLE:,} still active: {allowed}; the next sync "
        f"marked {retired:,}, none held {rounds} round(s) after it started; deleted since "
        f"{deleted:,}; lease rows {len(sim.owners()):,} = active mailboxes {_active(db):,}"
    )
    return {"deactivated_rounds": rounds, "deactivated_started": refused}


def _cycle_starts(sim: SimFleet, mailboxes: list[int]) -> int:
    """How many of `mailboxes` their owner could start a cycle on now."""
    holders = {k.me.id: k for k in sim.keepers}
    with sim.db.engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT mailbox_id, worker_id, epoch FROM {leases.name} WHERE mailbox_id IN :m"
            ).bindparams(bindparam("m", expanding=True)),
            {"m": mailboxes},
        ).all()
    return sum(holders[w].start_cycle(int(m), int(e)) is not None for m, w, e in rows)


def _held_retired(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                text(f"SELECT count(*) FROM {leases.name} WHERE retired AND worker_id IS NOT NULL")
            ).scalar_one()
        )


def _active(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM mailboxes WHERE status = 'active'")
            ).scalar_one()
        )


def _table_stats(db: Database, tables: tuple[str, ...]) -> dict[str, list[int]]:
    """(inserted, updated, deleted, dead) rows per table, once every other backend has exited
    (a backend's statistics reach the shared ones at its exit at the latest)."""
    db.dispose()
    deadline = time.monotonic() + 30
    with db.engine.connect() as conn:
        while conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
        ).scalar_one():
            if time.monotonic() > deadline:
                raise RuntimeError("other connections to the benchmark database did not end")
            conn.rollback()
            time.sleep(0.05)
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        rows = conn.execute(
            text(
                "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del, n_dead_tup "
                "FROM pg_stat_user_tables WHERE relname IN :t"
            ).bindparams(bindparam("t", expanding=True)),
            {"t": list(tables)},
        ).all()
    return {str(r[0]): [int(v) for v in r[1:]] for r in rows}
