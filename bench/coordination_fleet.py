"""A fleet of `LeaseKeeper`s simulated in one process, for `bench.coordination`.

Every keeper shares one connection pool and is driven heartbeat by heartbeat, as the worker
runtime drives it: `heartbeat()`, then release what the tick says, then the lease sync when the
tick says it is due (the runtime runs it as a task of its own). A round is every keeper once,
oldest first: what five seconds are to a real fleet heartbeating every five seconds.
"""

from __future__ import annotations

import time
from collections import Counter

from sqlalchemy import text

from warmup_autoscaler.store.database import Database, now_ms_sql
from warmup_autoscaler.store.lease_sync import SyncPolicy, SyncResult
from warmup_autoscaler.store.worker_schema import fleet, leases, workers
from warmup_autoscaler.worker import LeaseKeeper, Tick, WorkerIdentity, to_release

__all__ = ["ACTIVE_QUERY", "HEARTBEAT_MS", "SimFleet"]

ACTIVE_QUERY = "SELECT * FROM mailboxes WHERE status = 'active'"
HEARTBEAT_MS = 5000  # the default: what a round stands for
TTL_MS = 600_000  # nothing expires unless the benchmark says so
POLICY = SyncPolicy(min_interval_ms=HEARTBEAT_MS)  # the runtime's, with the default heartbeat


class SimFleet:
    """`workers` keepers of capacity `capacity` on `db`, and what their heartbeats did."""

    def __init__(self, db: Database, workers: int, capacity: int) -> None:
        self.db = db
        self.capacity = capacity
        self.joined = 0
        self.keepers: list[LeaseKeeper] = []
        for _ in range(workers):
            self.add()
        self.syncs: list[SyncResult] = []

    def add(self) -> LeaseKeeper:
        i = self.joined
        self.joined += 1
        me = WorkerIdentity(id=f"{i:032d}", name=f"w{i}", host="bench", pid=i)
        keeper = LeaseKeeper(
            self.db,
            me,
            lease_ttl_ms=TTL_MS,
            capacity=self.capacity,
            active_query=ACTIVE_QUERY,
            sync=POLICY,
        )
        self.keepers.append(keeper)
        return keeper

    def beat(self, keeper: LeaseKeeper) -> float:
        """One heartbeat as the runtime does it; returns the seconds `heartbeat()` took."""
        began = time.perf_counter()
        tick = keeper.heartbeat()
        took = time.perf_counter() - began
        self.follow(keeper, tick)
        return took

    def follow(self, keeper: LeaseKeeper, tick: Tick) -> None:
        """What the runtime does after a heartbeat: release, and sync when due."""
        keeper.release(to_release(tick))
        if tick.sync_due and (synced := keeper.sync()) is not None:
            self.syncs.append(synced)

    def round(self) -> list[float]:
        return [self.beat(keeper) for keeper in list(self.keepers)]

    def owners(self) -> dict[int, str | None]:
        """{mailbox: owner} of every unretired lease row."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT mailbox_id, worker_id FROM {leases.name} WHERE NOT retired")
            )
            return {int(m): w for m, w in rows}

    def unowned(self) -> int:
        """Active mailboxes (as leased) without a valid lease: unowned, or owner expired."""
        now = now_ms_sql("postgresql")
        with self.db.engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        f"SELECT count(*) FROM {leases.name} AS l LEFT JOIN {workers.name} AS w "
                        f"ON w.id = l.worker_id WHERE NOT l.retired "
                        f"AND (w.id IS NULL OR w.expires_at <= {now})"
                    )
                ).scalar_one()
            )

    def balanced(self) -> bool:
        """Every live keeper within one of the others (or at capacity), nothing unowned."""
        with self.db.engine.connect() as conn:
            counts = [int(n) for (n,) in conn.execute(text(f"SELECT owned FROM {workers.name}"))]
        if len(counts) != len(self.keepers):
            return False
        return self.unowned() == 0 and max(counts) - min(counts) <= 1

    def rounds_until_settled(self, limit: int = 10) -> int:
        """Rounds until every mailbox is owned and the fleet balanced."""
        for done in range(1, limit + 1):
            self.round()
            if self.balanced():
                return done
        raise RuntimeError(f"not settled after {limit} rounds: {self.unowned()} unowned")

    def force_sync_due(self) -> None:
        """Make the next sync due now (as if its interval had passed)."""
        with self.db.begin_write() as conn:
            conn.execute(text(f"UPDATE {fleet.name} SET sync_due_at = 0"))


def moved(before: dict[int, str | None], after: dict[int, str | None]) -> int:
    return sum(1 for m, owner in after.items() if m in before and before[m] != owner)


def counts(owners: dict[int, str | None]) -> list[int]:
    return list(Counter(o for o in owners.values() if o is not None).values())
