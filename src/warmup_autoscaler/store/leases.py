"""Mailbox leases: who may work which mailbox, fenced, at a cost that does not grow with them.

Design. `autoscaler_leases` has one row per active mailbox: its owner (`worker_id`, NULL for
nobody) and a fencing `epoch`, and no expiry of its own. A lease is *valid* while its owner's
registration is: `autoscaler_workers.expires_at` (last heartbeat + TTL, database clock) is in
the future. So a heartbeat renews every lease of a worker by updating one row, as procrastinate's
workers hold their jobs through their heartbeat row, and lease rows change only when ownership
does, each change touching only the rows it moves:
- claim: unowned leases (`ix_autoscaler_leases_free`) take the claimer and epoch + 1, a batch in
  one statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite runs one writer at a time);
- release: the owner sets its leases unowned (the next claim bumps the epoch);
- prune: deleting an expired registration releases all its leases at once (the foreign key is
  ON DELETE SET NULL); a worker that finds its own registration expired deletes it and joins
  anew, which releases them too;
- sync (`store.lease_sync`, the leader only, at most a small share of the database's time):
  new active mailboxes get rows, rows of mailboxes gone inactive are deleted if unowned and marked
  `retired` if owned, and their owner releases them at its next heartbeat.
Rebalancing is cooperative, as in Kafka's incremental protocol: on a change of membership each
worker moves toward its own share (`worker.ownership.fair_target`), those above it release only
their excess, and those below claim what was released at their next heartbeat.

Invariants, and why each holds:
1. At most one live owner per mailbox at any instant. A row has one `worker_id`, and ownership
   passes from one worker to another only through NULL: a claim takes only unowned rows (and
   re-checks that under the row lock, so two claimers never both get one), and a lease becomes
   unowned only when its owner releases it or its owner's registration is deleted, which happens
   only once that registration has expired (prune) or by the owner itself (join, leave).
2. Fencing. Every write for a mailbox checks `lease_fence_sql` in the same statement, at the
   database's clock: the lease is the writer's, under the writer's epoch, and the writer's
   registration has not expired. A worker paused past its TTL fails it before anyone takes its
   leases (expired) and after (owner or epoch differ); the heartbeat renews a registration only
   while it is valid, so an expired one never comes back with its old leases.
3. Epochs never repeat for a mailbox: +1 on each claim, and a new row starts at the database
   clock in ms, above what an older row of that mailbox can have reached.
4. A steady heartbeat is one statement on one row whatever the number of mailboxes; the lease
   table is written only by claims, releases, prunes and syncs, i.e. by what changed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, TextClause, bindparam

from warmup_autoscaler.store.database import Database, guarded, now_ms_sql
from warmup_autoscaler.store.worker_schema import leases, worker_sql, workers

__all__ = ["ACTIVE_QUERY_HINT", "CHUNK", "LeaseStore", "chunks", "lease_fence_sql"]

CHUNK = {"sqlite": 500, "postgresql": 5000}  # ids per statement, under each bind limit
ACTIVE_QUERY_HINT = "check DATABASE_URL and AUTO_SCALER_ACTIVE_MAILBOXES_QUERY"

FENCE = """EXISTS (
            SELECT 1 FROM {leases} AS fence_lease
            JOIN {workers} AS fence_owner ON fence_owner.id = fence_lease.worker_id
            WHERE fence_lease.mailbox_id = :mailbox_id AND fence_lease.worker_id = :worker_id
              AND fence_lease.epoch = :epoch AND fence_owner.expires_at > {now})"""

# {active}: the user's active-mailboxes query; {fence}: `lease_fence_sql`; see `worker_sql`.
SQL: dict[str, str] = {
    # The pick is a materialized CTE: as an IN (subquery), PostgreSQL may run it once per row
    # of the outer scan, each run locking and returning another batch (more than :n claimed).
    "claim": """
        WITH picked AS MATERIALIZED (
            SELECT mailbox_id FROM {leases} WHERE worker_id IS NULL AND NOT retired
            ORDER BY mailbox_id LIMIT :n{skip_locked})
        UPDATE {leases} SET worker_id = :worker_id, epoch = epoch + 1
        WHERE mailbox_id IN (SELECT mailbox_id FROM picked)
          AND worker_id IS NULL AND NOT retired
          AND EXISTS (SELECT 1 FROM {workers} WHERE id = :worker_id AND expires_at > {now})
        RETURNING mailbox_id, epoch""",
    "release": "UPDATE {leases} SET worker_id = NULL WHERE worker_id = :worker_id AND mailbox_id IN :ids",
    "count": "UPDATE {workers} SET owned = owned + :delta WHERE id = :worker_id",
    "held": "SELECT mailbox_id, epoch FROM {leases} WHERE worker_id = :worker_id",
    "retired": "SELECT mailbox_id FROM {leases} WHERE worker_id = :worker_id AND retired",
    "start_cycle": """
        SELECT {now} AS warmup_started_at_ms, active.*
        FROM ({active}) AS active
        WHERE active.id = :mailbox_id AND {fence}""",
    "record_cycle": """
        INSERT INTO {cycles}
            (mailbox_id, worker_id, epoch, started_at, finished_at, outcome, detail)
        SELECT CAST(:mailbox_id AS BIGINT), CAST(:worker_id AS VARCHAR(32)),
               CAST(:epoch AS BIGINT), CAST(:started_at_ms AS BIGINT), {now},
               CAST(:outcome AS VARCHAR(40)), CAST(:detail AS TEXT)
        WHERE {fence}""",
}


def lease_fence_sql(dialect: str) -> str:
    """An SQL boolean expression, with binds :mailbox_id, :worker_id and :epoch, true iff at the
    database clock now the lease of that mailbox is held by that worker under that epoch and is
    valid (the worker's registration has not expired). Put it in the WHERE of every write made
    for a mailbox, so a worker that lost the lease writes nothing."""
    return FENCE.format(leases=leases.name, workers=workers.name, now=now_ms_sql(dialect))


def chunks(ids: Collection[int], dialect: str) -> Iterator[list[int]]:
    ordered, size = sorted(ids), CHUNK[dialect]
    for i in range(0, len(ordered), size):
        yield ordered[i : i + size]


class LeaseStore:
    """The lease statements of one worker process for one database and active-mailboxes query;
    each call is one short transaction (IMMEDIATE on SQLite) and raises only `StoreError`."""

    def __init__(self, db: Database, *, active_query: str) -> None:
        self.db = db
        dialect = db.dialect_name
        extra = {
            "active": active_query.strip().rstrip(";").strip(),
            "fence": lease_fence_sql(dialect),
            "skip_locked": " FOR UPDATE SKIP LOCKED" if dialect == "postgresql" else "",
        }
        self._sql: dict[str, TextClause] = {
            name: worker_sql(sql, dialect, **extra) for name, sql in SQL.items()
        }
        self._sql["release"] = self._sql["release"].bindparams(bindparam("ids", expanding=True))

    def claim(self, worker_id: str, n: int) -> dict[int, int]:
        """Take up to `n` unowned leases, if `worker_id`'s registration is valid; returns them as
        {mailbox: new epoch}."""
        if n <= 0:
            return {}
        with self._write("claiming leases") as conn:
            rows = conn.execute(self._sql["claim"], {"worker_id": worker_id, "n": n}).all()
            self._count(conn, worker_id, len(rows))
        return {int(m): int(e) for m, e in rows}

    def release(self, worker_id: str, mailbox_ids: Collection[int]) -> int:
        """Give up these leases at once, so another worker can claim them without waiting."""
        done = 0
        with self._write("releasing leases") as conn:
            for ids in chunks(mailbox_ids, self.db.dialect_name):
                params = {"worker_id": worker_id, "ids": ids}
                done += conn.execute(self._sql["release"], params).rowcount
            self._count(conn, worker_id, -done)
        return done

    def held(self, worker_id: str) -> dict[int, int]:
        """Every lease row naming `worker_id` as owner, as {mailbox: epoch}."""
        with self._read("reading the leases held") as conn:
            rows = conn.execute(self._sql["held"], {"worker_id": worker_id}).all()
        return {int(m): int(e) for m, e in rows}

    def retired(self, worker_id: str) -> set[int]:
        """The leases `worker_id` holds on mailboxes gone inactive (to be released)."""
        with self._read("reading the retired leases") as conn:
            rows = conn.execute(self._sql["retired"], {"worker_id": worker_id}).all()
        return {int(m) for (m,) in rows}

    def start_cycle(
        self, worker_id: str, mailbox_id: int, epoch: int
    ) -> tuple[int, dict[str, Any]] | None:
        """(database time now, the mailbox row) if the lease is still held and valid and the
        mailbox is still active; None otherwise, and the cycle must not run."""
        params = {"worker_id": worker_id, "mailbox_id": mailbox_id, "epoch": epoch}
        with self._read("starting a warmup cycle") as conn:
            result = conn.execute(self._sql["start_cycle"], params)
            keys = list(result.keys())[1:]
            row = result.first()
        if row is None:
            return None
        return int(row[0]), dict(zip(keys, row[1:], strict=True))

    def record_cycle(
        self,
        *,
        worker_id: str,
        mailbox_id: int,
        epoch: int,
        started_at_ms: int,
        outcome: str,
        detail: str | None,
    ) -> bool:
        """Insert the cycle's row if, at this instant, the lease passes `lease_fence_sql`;
        False (nothing written) otherwise."""
        params: Mapping[str, Any] = {
            "worker_id": worker_id,
            "mailbox_id": mailbox_id,
            "epoch": epoch,
            "started_at_ms": started_at_ms,
            "outcome": outcome,
            "detail": detail,
        }
        with self._write("recording a warmup cycle") as conn:
            return conn.execute(self._sql["record_cycle"], params).rowcount == 1

    def _count(self, conn: Connection, worker_id: str, delta: int) -> None:
        """Keep the registration's `owned` equal to the rows naming it, in the same transaction,
        so the fleet's reads never count leases."""
        if delta:
            conn.execute(self._sql["count"], {"worker_id": worker_id, "delta": delta})

    def _write(self, doing: str) -> AbstractContextManager[Connection]:
        return guarded(self.db, doing, write=True, hint=ACTIVE_QUERY_HINT)

    def _read(self, doing: str) -> AbstractContextManager[Connection]:
        return guarded(self.db, doing, write=False, hint=ACTIVE_QUERY_HINT)
