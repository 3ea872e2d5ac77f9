"""The worker registry as the workers write it: registration, heartbeat, membership and pruning.

A registration row is the lease of everything its worker owns (see `store.leases`): a heartbeat
renews it only while it is still valid (`expires_at > now`), so an expired registration is never
revived; its worker must `join` again, which deletes the old row (releasing its leases) first.
Every change of membership (join, leave, drain, prune) bumps `autoscaler_fleet.members` in the
same transaction, so the others re-read the membership only when it changed. All times are the
database's clock. What the rest of the system reads of the fleet is in `store.workers`.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection

from warmup_autoscaler.store.database import Database, guarded
from warmup_autoscaler.store.worker_schema import worker_sql
from warmup_autoscaler.store.workers import ACTIVE, DRAINING

__all__ = ["ACTIVE", "DRAINING", "Beat", "Membership", "Registry", "WorkerIdentity"]

# {now}: the database clock in epoch ms; {workers}, {leases}, {fleet}, {row}: see `worker_sql`.
SQL: dict[str, str] = {
    "register": """
        INSERT INTO {workers} (id, name, host, pid, started_at, heartbeat_at, expires_at, state)
        VALUES (:id, :name, :host, :pid, {now}, {now}, {now} + :ttl_ms, :state)
        RETURNING started_at""",
    "unregister": "DELETE FROM {workers} WHERE id = :id",
    "release_all": "UPDATE {leases} SET worker_id = NULL WHERE worker_id = :id",
    "beat": """
        UPDATE {workers}
        SET heartbeat_at = {now}, expires_at = {now} + :ttl_ms, state = :state
        WHERE id = :id AND expires_at > {now}
        RETURNING
            (SELECT members FROM {fleet} WHERE id = {row}),
            (SELECT mailboxes FROM {fleet} WHERE id = {row}),
            (SELECT count(*) FROM {fleet} WHERE id = {row} AND sync_due_at <= {now}),
            (SELECT count(*) FROM {workers} AS leader
             WHERE leader.id = :leader AND leader.expires_at > {now}),
            (SELECT count(*) FROM {leases} WHERE worker_id = :id AND retired)""",
    "set_state": "UPDATE {workers} SET state = :state WHERE id = :id",
    "bump": "UPDATE {fleet} SET members = members + 1 WHERE id = {row}",
    "ensure_fleet": """
        INSERT INTO {fleet} (id, members, mailboxes, synced_at, sync_ms, sync_due_at)
        VALUES ({row}, 0, 0, 0, 0, 0) ON CONFLICT (id) DO NOTHING""",
    "prune": "DELETE FROM {workers} WHERE expires_at <= {now}",
    "check_workers": "SELECT count(*) FROM {workers} WHERE expires_at > {now}",
    "check_fleet": "SELECT count(*) FROM {fleet}",
    "membership": """
        SELECT (SELECT members FROM {fleet} WHERE id = {row}),
               count(*),
               coalesce(sum(CASE WHEN started_at < :started_at
                                  OR (started_at = :started_at AND id < :id)
                                 THEN 1 ELSE 0 END), 0),
               (SELECT first.id FROM {workers} AS first
                WHERE first.state = 'active' AND first.expires_at > {now}
                ORDER BY first.started_at, first.id LIMIT 1)
        FROM {workers} WHERE state = 'active' AND expires_at > {now}""",
}


@dataclass(frozen=True, kw_only=True)
class WorkerIdentity:
    """Who a worker process is: a fresh id per start (never reused, unlike a pid) and a name."""

    id: str
    name: str
    host: str
    pid: int

    @classmethod
    def create(cls, *, name: str | None = None, index: str | None = None) -> WorkerIdentity:
        """Name: `name` or `<host>-<pid>`, with `-w<index>` (AUTO_SCALER_WORKER_INDEX) appended."""
        host, pid = socket.gethostname(), os.getpid()
        base = name or f"{host}-{pid}"
        full = f"{base}-w{index}" if index else base
        return cls(id=uuid.uuid4().hex, name=full[:200], host=host[:255], pid=pid)


@dataclass(frozen=True, kw_only=True)
class Beat:
    """What a successful heartbeat read along with renewing the registration."""

    members: int  # the membership version: re-read the membership when it changed
    mailboxes: int  # lease rows not retired, as of the last sync
    sync_due: bool
    leader_alive: bool  # the registration of the leader named in the heartbeat is valid
    holds_retired: bool  # this worker holds leases of mailboxes gone inactive


@dataclass(frozen=True, kw_only=True)
class Membership:
    """The live workers in state active, as of `version`; this worker's place among them."""

    version: int
    live: int
    rank: int  # how many of them started before this worker (0: the leader)
    leader: str | None  # the oldest of them, which prunes and syncs


class Registry:
    """The registry statements one worker runs; each call is one short transaction (IMMEDIATE on
    SQLite) and raises only `StoreError`."""

    def __init__(self, db: Database, *, lease_ttl_ms: int) -> None:
        self.db = db
        self.lease_ttl_ms = lease_ttl_ms
        self._sql = {name: worker_sql(sql, db.dialect_name) for name, sql in SQL.items()}

    def check(self) -> None:
        """Raise `MissingTablesError` unless the registry's tables are there, as migrated."""
        with guarded(self.db, "reading the worker registry", write=False) as conn:
            conn.execute(self._sql["check_workers"])
            conn.execute(self._sql["check_fleet"])

    def join(self, me: WorkerIdentity, state: str) -> int:
        """Register `me` afresh: drop any previous registration of it (releasing its leases),
        insert a new one; returns its start time (epoch ms)."""
        params = {"id": me.id, "name": me.name, "host": me.host, "pid": me.pid}
        with guarded(self.db, "registering the worker", write=True) as conn:
            conn.execute(self._sql["ensure_fleet"])
            self._unregister(conn, me.id)
            started = conn.execute(
                self._sql["register"], {**params, "state": state, "ttl_ms": self.lease_ttl_ms}
            ).scalar_one()
            conn.execute(self._sql["bump"])
        return int(started)

    def beat(self, me: WorkerIdentity, *, state: str, leader: str | None) -> Beat | None:
        """Renew `me`'s registration if it is still valid; None if it expired or is gone."""
        params = {
            "id": me.id,
            "state": state,
            "leader": leader or "",
            "ttl_ms": self.lease_ttl_ms,
        }
        with guarded(self.db, "writing the worker heartbeat", write=True, single=True) as conn:
            row = conn.execute(self._sql["beat"], params).first()
        if row is not None and row[0] is None:  # the fleet row was deleted: put it back
            with guarded(self.db, "restoring the fleet row", write=True) as conn:
                conn.execute(self._sql["ensure_fleet"])
        if row is None:
            return None
        members, mailboxes, due, leader_alive, retired = row
        return Beat(
            members=-1 if members is None else int(members),
            mailboxes=int(mailboxes or 0),
            sync_due=bool(due),
            leader_alive=leader is None or bool(leader_alive),
            holds_retired=bool(retired),
        )

    def set_state(self, me: WorkerIdentity, state: str) -> None:
        """Mark `me` active or draining, as a change of membership."""
        with guarded(self.db, "writing the worker state", write=True) as conn:
            if conn.execute(self._sql["set_state"], {"id": me.id, "state": state}).rowcount:
                conn.execute(self._sql["bump"])

    def membership(self, me: WorkerIdentity, started_at: int) -> Membership:
        params = {"id": me.id, "started_at": started_at}
        with guarded(self.db, "reading the worker registry", write=False, single=True) as conn:
            version, live, ahead, leader = conn.execute(self._sql["membership"], params).one()
        return Membership(
            version=-1 if version is None else int(version),
            live=int(live),
            rank=int(ahead),
            leader=None if leader is None else str(leader),
        )

    def prune(self) -> int:
        """Delete the expired registrations, which releases their leases; returns how many."""
        with guarded(self.db, "pruning dead workers", write=True) as conn:
            pruned = conn.execute(self._sql["prune"]).rowcount
            if pruned:
                conn.execute(self._sql["bump"])
        return max(pruned, 0)

    def leave(self, me: WorkerIdentity) -> int:
        """Release every lease of `me` and deregister it; returns how many leases it held."""
        with guarded(self.db, "deregistering the worker", write=True) as conn:
            released = self._unregister(conn, me.id)
            conn.execute(self._sql["bump"])
        return released

    def _unregister(self, conn: Connection, worker_id: str) -> int:
        released = conn.execute(self._sql["release_all"], {"id": worker_id}).rowcount
        conn.execute(self._sql["unregister"], {"id": worker_id})
        return max(released, 0)
