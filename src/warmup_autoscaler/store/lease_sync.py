"""Keeping the lease rows in step with the active mailboxes, at a bounded share of the database.

The active-mailboxes query is the user's own SQL, so nothing can watch it change (no trigger or
NOTIFY fits an arbitrary query): the sync compares it with the lease table, two anti-joins whose
cost grows with the mailboxes. So it runs off the heartbeat, by the leader only, when
`autoscaler_fleet.sync_due_at` has passed (a conditional UPDATE, so two leaders never both
start), and it then schedules the next one `SyncPolicy.gap_ms(compared)` later: at least the
heartbeat, and long enough that the comparison, beyond a first `free_ms` that small fleets
spend on round trips alone, keeps at most `duty` of the time (2%: comparing a million mailboxes
in 1 s means a sync about every 50 s). Applying the differences is not counted: it is
proportional to what changed. They are read first (no lock held, even on SQLite)
and applied in short transactions of at most CHUNK mailboxes, each re-checking the active query
for its own ids, so a mailbox that changed meanwhile is left for the next sync rather than
mis-filed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import Connection, TextClause, bindparam

from warmup_autoscaler.store.database import Database, guarded
from warmup_autoscaler.store.leases import ACTIVE_QUERY_HINT, CHUNK, chunks
from warmup_autoscaler.store.worker_schema import worker_sql

__all__ = ["LeaseSync", "SyncPolicy", "SyncResult"]

SYNC_HOLD_MS = 60_000  # a sync that started but never finished (its worker died) blocks no longer
ANALYZE_SHARE = 0.1  # on PostgreSQL, a sync that changed this share of the rows refreshes the
# planner's statistics at once (the claim's plan depends on them; autovacuum may be a minute late)

SQL: dict[str, str] = {
    "start": """
        UPDATE {fleet} SET sync_due_at = {now} + :hold_ms
        WHERE id = {row} AND sync_due_at <= {now}""",
    "new": """
        SELECT DISTINCT active.id FROM ({active}) AS active
        WHERE active.id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM {leases} AS l WHERE l.mailbox_id = active.id)""",
    "gone": """
        SELECT l.mailbox_id FROM {leases} AS l
        WHERE NOT l.retired
          AND NOT EXISTS (SELECT 1 FROM ({active}) AS active WHERE active.id = l.mailbox_id)""",
    "back": """
        SELECT l.mailbox_id FROM {leases} AS l
        WHERE l.retired
          AND EXISTS (SELECT 1 FROM ({active}) AS active WHERE active.id = l.mailbox_id)""",
    "insert": """
        INSERT INTO {leases} (mailbox_id, worker_id, epoch, retired)
        SELECT DISTINCT active.id, NULL, {now}, FALSE FROM ({active}) AS active
        WHERE active.id IN :ids
        ON CONFLICT (mailbox_id) DO NOTHING""",
    "retire": """
        UPDATE {leases} SET retired = TRUE
        WHERE mailbox_id IN :ids AND NOT retired AND NOT EXISTS (
            SELECT 1 FROM ({active}) AS active WHERE active.id = {leases}.mailbox_id)""",
    "restore": """
        UPDATE {leases} SET retired = FALSE
        WHERE mailbox_id IN :ids AND retired AND EXISTS (
            SELECT 1 FROM ({active}) AS active WHERE active.id = {leases}.mailbox_id)""",
    "purge": """
        DELETE FROM {leases} WHERE mailbox_id IN (
            SELECT mailbox_id FROM {leases} WHERE retired AND worker_id IS NULL LIMIT :n)""",
    "count": "SELECT count(*) FROM {leases} WHERE NOT retired",
    "analyze": "ANALYZE {leases}",
    "done": """
        UPDATE {fleet}
        SET mailboxes = :mailboxes, synced_at = {now}, sync_ms = :took_ms,
            sync_due_at = {now} + :gap_ms
        WHERE id = {row}""",
}


@dataclass(frozen=True, kw_only=True)
class SyncPolicy:
    """When the next sync is due after one whose comparison took `compared_ms`."""

    min_interval_ms: int = 0
    duty: float = 0.02  # the most of the time the comparison may take, beyond `free_ms`
    free_ms: int = 50  # as long as round trips take on a busy machine, whatever the size

    def gap_ms(self, compared_ms: int) -> int:
        costly = max(compared_ms - self.free_ms, 0)
        return max(self.min_interval_ms, round(costly * (1 - self.duty) / self.duty))


@dataclass(frozen=True, kw_only=True)
class SyncResult:
    """What one sync changed: rows `inserted` for new active mailboxes, `retired` (owned,
    mailbox inactive), `restored` (retired, mailbox active again), `deleted` (retired and
    unowned); `mailboxes` is the total of unretired rows after it. `compared_ms` is the part
    that grows with the mailboxes (reading the differences, counting), `took_ms` the whole."""

    inserted: int
    retired: int
    restored: int
    deleted: int
    mailboxes: int
    compared_ms: int
    took_ms: int


class LeaseSync:
    """The lease sync for one database and active-mailboxes query; raises only `StoreError`."""

    def __init__(self, db: Database, *, active_query: str, policy: SyncPolicy) -> None:
        self.db = db
        self.policy = policy
        active = active_query.strip().rstrip(";").strip()
        self._sql: dict[str, TextClause] = {
            name: worker_sql(sql, db.dialect_name, active=active) for name, sql in SQL.items()
        }
        for name in ("insert", "retire", "restore"):
            self._sql[name] = self._sql[name].bindparams(bindparam("ids", expanding=True))

    def run(self, stop: Callable[[], bool] = lambda: False) -> SyncResult | None:
        """Sync if it is due and nobody else is syncing; None if not. `stop()` true between two
        chunks ends it early (the worker is leaving); the next sync does the rest."""
        began = time.monotonic()
        with self._write("starting the lease sync") as conn:
            if not conn.execute(self._sql["start"], {"hold_ms": SYNC_HOLD_MS}).rowcount:
                return None
        with self._read("comparing the leases with the active mailboxes") as conn:
            new = [int(m) for (m,) in conn.execute(self._sql["new"])]
            gone = [int(m) for (m,) in conn.execute(self._sql["gone"])]
            back = [int(m) for (m,) in conn.execute(self._sql["back"])]
        compared = time.monotonic() - began
        inserted = self._apply("insert", new, stop)
        retired = self._apply("retire", gone, stop)
        restored = self._apply("restore", back, stop)
        deleted, size = 0, CHUNK[self.db.dialect_name]
        while not stop():
            with self._write("deleting the leases of inactive mailboxes") as conn:
                purged = conn.execute(self._sql["purge"], {"n": size}).rowcount
            deleted += purged
            if purged < size:
                break
        counting = time.monotonic()
        with self._read("counting the leases") as conn:
            mailboxes = int(conn.execute(self._sql["count"]).scalar_one())
        changed = inserted + retired + restored + deleted
        if self.db.dialect_name == "postgresql" and changed > ANALYZE_SHARE * max(mailboxes, 1):
            with self._write("analyzing the lease table") as conn:
                conn.execute(self._sql["analyze"])
        now = time.monotonic()
        took_ms = round((now - began) * 1000)
        compared_ms = round((compared + now - counting) * 1000)
        gap_ms = self.policy.gap_ms(compared_ms)
        params = {"mailboxes": mailboxes, "took_ms": took_ms, "gap_ms": gap_ms}
        with self._write("finishing the lease sync") as conn:
            conn.execute(self._sql["done"], params)
        return SyncResult(
            inserted=inserted,
            retired=retired,
            restored=restored,
            deleted=deleted,
            mailboxes=mailboxes,
            compared_ms=compared_ms,
            took_ms=took_ms,
        )

    def _apply(self, step: str, ids: Collection[int], stop: Callable[[], bool]) -> int:
        done = 0
        for chunk in chunks(ids, self.db.dialect_name):
            if stop():
                break
            with self._write(f"syncing the leases ({step})") as conn:
                done += max(conn.execute(self._sql[step], {"ids": chunk}).rowcount, 0)
        return done

    def _write(self, doing: str) -> AbstractContextManager[Connection]:
        return guarded(self.db, doing, write=True, hint=ACTIVE_QUERY_HINT)

    def _read(self, doing: str) -> AbstractContextManager[Connection]:
        return guarded(self.db, doing, write=False, hint=ACTIVE_QUERY_HINT)
