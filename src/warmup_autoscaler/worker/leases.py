"""Mailbox leases: every lease statement of the worker runtime, named, in one place.

A lease row per active mailbox says who owns it (`worker_id`), until when (`expires_at`, epoch ms
on the DATABASE's clock) and under which fencing `epoch`. The epoch grows by one on every claim,
so a worker that lost a lease (paused past its expiry, say) can no longer write for it: every
write checks owner, epoch and expiry in the same statement. A new lease row starts its epoch at
the database clock in ms, so a mailbox deactivated and reactivated never reuses an old epoch.
Invariant: `worker_id IS NULL` implies `expires_at = 0`, so "claimable" is `expires_at <= now`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, TextClause, bindparam, text

from warmup_autoscaler.store.database import Database, guarded, now_ms_sql

__all__ = ["SQL", "LeaseStore", "SyncResult", "lease_fence_sql"]

RELEASE_CHUNK = 500  # ids per statement, well under SQLite's bound-variable limit

# {now}: the database clock in epoch ms; {active}: the user's active-mailboxes query.
SQL: dict[str, str] = {
    "sync_insert": """
        INSERT INTO autoscaler_leases (mailbox_id, worker_id, expires_at, epoch)
        SELECT active.id, NULL, 0, {now} FROM ({active}) AS active
        WHERE active.id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM autoscaler_leases AS l WHERE l.mailbox_id = active.id)
        ON CONFLICT (mailbox_id) DO NOTHING""",
    "sync_delete": """
        DELETE FROM autoscaler_leases WHERE NOT EXISTS (
            SELECT 1 FROM ({active}) AS active WHERE active.id = autoscaler_leases.mailbox_id)""",
    "renew": """
        UPDATE autoscaler_leases SET expires_at = {now} + :ttl_ms
        WHERE worker_id = :worker_id AND expires_at > {now}
        RETURNING mailbox_id, epoch""",
    "counts": """
        SELECT (SELECT count(*) FROM autoscaler_leases),
               (SELECT count(*) FROM autoscaler_leases WHERE expires_at <= {now})""",
    "claim_postgresql": """
        UPDATE autoscaler_leases
        SET worker_id = :worker_id, expires_at = {now} + :ttl_ms, epoch = epoch + 1
        WHERE mailbox_id IN (
            SELECT mailbox_id FROM autoscaler_leases WHERE expires_at <= {now}
            ORDER BY expires_at LIMIT :n FOR UPDATE SKIP LOCKED)
        RETURNING mailbox_id, epoch""",
    "claim_sqlite": """
        UPDATE autoscaler_leases
        SET worker_id = :worker_id, expires_at = {now} + :ttl_ms, epoch = epoch + 1
        WHERE mailbox_id IN (
            SELECT mailbox_id FROM autoscaler_leases WHERE expires_at <= {now}
            ORDER BY expires_at LIMIT :n)
        RETURNING mailbox_id, epoch""",
    "release": """
        UPDATE autoscaler_leases SET worker_id = NULL, expires_at = 0
        WHERE worker_id = :worker_id AND mailbox_id IN :ids""",
    "release_all": """
        UPDATE autoscaler_leases SET worker_id = NULL, expires_at = 0
        WHERE worker_id = :worker_id""",
    "start_cycle": """
        SELECT {now} AS warmup_started_at_ms, active.*
        FROM ({active}) AS active
        JOIN autoscaler_leases AS l ON l.mailbox_id = active.id
        WHERE active.id = :mailbox_id AND l.worker_id = :worker_id AND l.epoch = :epoch
          AND l.expires_at > {now}""",
    "record_cycle": """
        INSERT INTO warmup_cycles
            (mailbox_id, worker_id, epoch, started_at, finished_at, outcome, detail)
        SELECT CAST(:mailbox_id AS BIGINT), CAST(:worker_id AS VARCHAR(32)),
               CAST(:epoch AS BIGINT), CAST(:started_at_ms AS BIGINT), {now},
               CAST(:outcome AS VARCHAR(40)), CAST(:detail AS TEXT)
        WHERE {fence}""",
}

# The fence: true while `worker_id` holds the mailbox's lease under `epoch`, unexpired by the
# database's clock. Every fenced write puts it in its own WHERE, so check and write are atomic.
FENCE = """EXISTS (
            SELECT 1 FROM autoscaler_leases
            WHERE mailbox_id = :mailbox_id AND worker_id = :worker_id AND epoch = :epoch
              AND expires_at > {now})"""


def lease_fence_sql(dialect: str) -> str:
    """A SQL boolean that is true while :worker_id holds :mailbox_id's lease under :epoch and it
    has not expired (database clock). Put it in a write's WHERE to fence that write."""
    return FENCE.format(now=now_ms_sql(dialect))


ACTIVE_QUERY_HINT = "check DATABASE_URL and AUTO_SCALER_ACTIVE_MAILBOXES_QUERY"


@dataclass(frozen=True, kw_only=True)
class SyncResult:
    inserted: int
    deleted: int


class LeaseStore:
    """Runs the lease statements for one database and active-mailboxes query; each call is one
    short transaction (IMMEDIATE on SQLite) and raises only `StoreError`."""

    def __init__(self, db: Database, *, active_query: str, lease_ttl_ms: int) -> None:
        self.db = db
        self.lease_ttl_ms = lease_ttl_ms
        active = active_query.strip().rstrip(";").strip()
        now = now_ms_sql(db.dialect_name)
        self._sql: dict[str, TextClause] = {
            name: text(sql.format(now=now, active=active, fence=lease_fence_sql(db.dialect_name)))
            for name, sql in SQL.items()
        }
        self._sql["release"] = self._sql["release"].bindparams(bindparam("ids", expanding=True))

    def sync(self) -> SyncResult:
        """Create lease rows for new active mailboxes and delete those of inactive ones."""
        with self._write("syncing the leases with the active mailboxes") as conn:
            inserted = conn.execute(self._sql["sync_insert"]).rowcount
            deleted = conn.execute(self._sql["sync_delete"]).rowcount
        return SyncResult(inserted=max(inserted, 0), deleted=max(deleted, 0))

    def renew(self, worker_id: str) -> dict[int, int]:
        """Extend `worker_id`'s unexpired leases by the TTL; returns them as {mailbox: epoch}."""
        with self._write("renewing the leases") as conn:
            rows = conn.execute(
                self._sql["renew"], {"worker_id": worker_id, "ttl_ms": self.lease_ttl_ms}
            ).all()
        return {int(m): int(e) for m, e in rows}

    def counts(self) -> tuple[int, int]:
        """(lease rows, i.e. active mailboxes as last synced; of them, claimable now)."""
        with self._read("counting the leases") as conn:
            total, free = conn.execute(self._sql["counts"]).one()
        return int(total), int(free)

    def claim(self, worker_id: str, n: int) -> dict[int, int]:
        """Take up to `n` unowned or expired leases; returns them as {mailbox: new epoch}."""
        if n <= 0:
            return {}
        params = {"worker_id": worker_id, "ttl_ms": self.lease_ttl_ms, "n": n}
        with self._write("claiming leases") as conn:
            rows = conn.execute(self._sql[f"claim_{self.db.dialect_name}"], params).all()
        return {int(m): int(e) for m, e in rows}

    def release(self, worker_id: str, mailbox_ids: Collection[int]) -> int:
        """Give up these leases at once, so another worker can claim them without waiting."""
        ids = sorted(mailbox_ids)
        done = 0
        with self._write("releasing leases") as conn:
            for i in range(0, len(ids), RELEASE_CHUNK):
                params = {"worker_id": worker_id, "ids": ids[i : i + RELEASE_CHUNK]}
                done += conn.execute(self._sql["release"], params).rowcount
        return done

    def release_all(self, worker_id: str) -> int:
        with self._write("releasing all leases") as conn:
            return conn.execute(self._sql["release_all"], {"worker_id": worker_id}).rowcount

    def start_cycle(
        self, worker_id: str, mailbox_id: int, epoch: int
    ) -> tuple[int, dict[str, Any]] | None:
        """(database time now, the mailbox row) if the lease is still held and the mailbox is
        still active; None otherwise, and the cycle must not run."""
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
        """Insert the cycle's row if, at this instant, the lease is still `worker_id`'s under
        `epoch` and unexpired; False (nothing written) otherwise."""
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

    def _write(self, doing: str) -> AbstractContextManager[Connection]:
        return guarded(self.db, doing, write=True, hint=ACTIVE_QUERY_HINT)

    def _read(self, doing: str) -> AbstractContextManager[Connection]:
        return guarded(self.db, doing, write=False, hint=ACTIVE_QUERY_HINT)
