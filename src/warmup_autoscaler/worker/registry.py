"""The worker registry as a worker writes it: who is alive (heartbeat within the lease TTL).

A worker upserts its row on every heartbeat, so a worker pruned while paused comes back on its
next one. Any worker prunes the dead ones. All times are the database's clock. What the rest of
the system reads of the fleet is in `warmup_autoscaler.store.workers`.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from warmup_autoscaler.store.database import Database, guarded, now_ms_sql
from warmup_autoscaler.store.workers import ACTIVE, DRAINING

__all__ = ["ACTIVE", "DRAINING", "Registry", "WorkerIdentity"]

SQL: dict[str, str] = {
    "beat": """
        INSERT INTO autoscaler_workers (id, name, host, pid, started_at, heartbeat_at, state)
        VALUES (:id, :name, :host, :pid, {now}, {now}, :state)
        ON CONFLICT (id) DO UPDATE
        SET heartbeat_at = excluded.heartbeat_at, state = excluded.state""",
    "prune": "DELETE FROM autoscaler_workers WHERE heartbeat_at <= {now} - :ttl_ms",
    "live_active_ids": """
        SELECT id FROM autoscaler_workers
        WHERE state = 'active' AND heartbeat_at > {now} - :ttl_ms ORDER BY started_at, id""",
    "deregister": "DELETE FROM autoscaler_workers WHERE id = :id",
}


def _sql(db: Database, name: str, active: str = "") -> Any:
    return text(SQL[name].format(now=now_ms_sql(db.dialect_name), active=active))


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


class Registry:
    """The registry statements one worker runs; each raises only `StoreError`."""

    def __init__(self, db: Database, *, lease_ttl_ms: int) -> None:
        self.db = db
        self.lease_ttl_ms = lease_ttl_ms

    def beat(self, me: WorkerIdentity, state: str) -> None:
        """Register or refresh `me` with `state` (active | draining)."""
        params = {"id": me.id, "name": me.name, "host": me.host, "pid": me.pid, "state": state}
        with guarded(self.db, "writing the worker heartbeat", write=True) as conn:
            conn.execute(_sql(self.db, "beat"), params)

    def prune(self) -> int:
        """Delete the workers whose last heartbeat is older than the TTL; returns how many."""
        with guarded(self.db, "pruning dead workers", write=True) as conn:
            return conn.execute(_sql(self.db, "prune"), {"ttl_ms": self.lease_ttl_ms}).rowcount

    def live_active_ids(self) -> list[str]:
        """Ids of the live workers in state active, oldest first (the first one syncs leases)."""
        with guarded(self.db, "reading the worker registry", write=False) as conn:
            rows = conn.execute(_sql(self.db, "live_active_ids"), {"ttl_ms": self.lease_ttl_ms})
            return [str(r[0]) for r in rows]

    def deregister(self, me: WorkerIdentity) -> None:
        with guarded(self.db, "deregistering the worker", write=True) as conn:
            conn.execute(_sql(self.db, "deregister"), {"id": me.id})
