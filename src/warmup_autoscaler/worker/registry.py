"""The worker registry: who is alive (heartbeat within the lease TTL), and the fleet as a whole.

A worker upserts its row on every heartbeat, so a worker pruned while paused comes back on its
next one. Any worker prunes the dead ones. `fleet_snapshot` and `count_live_workers` are the
reads the status API and the manual platform use; all times are the database's clock.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from warmup_autoscaler.store.database import Database
from warmup_autoscaler.worker.leases import guarded, now_ms_sql

__all__ = [
    "ACTIVE",
    "DRAINING",
    "FleetSnapshot",
    "Registry",
    "WorkerIdentity",
    "WorkerStatus",
    "count_live_workers",
    "fleet_snapshot",
]

ACTIVE = "active"
DRAINING = "draining"

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
    "count_live": """
        SELECT count(*) FROM autoscaler_workers
        WHERE state = 'active' AND heartbeat_at > {now} - :ttl_ms""",
    "deregister": "DELETE FROM autoscaler_workers WHERE id = :id",
    "fleet_workers": """
        SELECT w.id, w.name, w.host, w.pid, w.state, w.started_at, {now} - w.heartbeat_at,
               coalesce(o.owned, 0)
        FROM autoscaler_workers AS w
        LEFT JOIN (SELECT worker_id, count(*) AS owned FROM autoscaler_leases
                   WHERE expires_at > {now} GROUP BY worker_id) AS o ON o.worker_id = w.id
        WHERE w.heartbeat_at > {now} - :ttl_ms ORDER BY w.started_at, w.id""",
    "fleet_leases": """
        SELECT (SELECT count(*) FROM autoscaler_leases),
               (SELECT count(*) FROM autoscaler_leases WHERE expires_at <= {now})""",
    "fleet_active": """
        SELECT count(*), coalesce(sum(CASE WHEN l.expires_at IS NULL OR l.expires_at <= {now}
                                           THEN 1 ELSE 0 END), 0)
        FROM ({active}) AS active LEFT JOIN autoscaler_leases AS l ON l.mailbox_id = active.id""",
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


@dataclass(frozen=True, kw_only=True)
class WorkerStatus:
    id: str
    name: str
    host: str
    pid: int
    state: str  # active | draining
    owned: int  # mailboxes under an unexpired lease
    heartbeat_age_ms: int
    started_at_ms: int  # epoch ms, database clock


@dataclass(frozen=True, kw_only=True)
class FleetSnapshot:
    """The live workers; `live` counts those in state active, `draining` the others; `backlog`
    is the active mailboxes no live worker holds a valid lease on."""

    workers: tuple[WorkerStatus, ...]
    live: int
    draining: int
    backlog: int
    active_mailboxes: int

    def to_dict(self) -> dict[str, Any]:
        """The snapshot for JSON, with camelCase keys."""
        return {
            "workers": [
                {
                    "id": w.id,
                    "name": w.name,
                    "host": w.host,
                    "pid": w.pid,
                    "state": w.state,
                    "owned": w.owned,
                    "heartbeatAgeMs": w.heartbeat_age_ms,
                    "heartbeatAgeSeconds": round(w.heartbeat_age_ms / 1000, 1),
                    "startedAtMs": w.started_at_ms,
                }
                for w in self.workers
            ],
            "live": self.live,
            "draining": self.draining,
            "backlog": self.backlog,
            "activeMailboxes": self.active_mailboxes,
        }


def fleet_snapshot(
    db: Database, lease_ttl_ms: int, *, active_query: str | None = None
) -> FleetSnapshot:
    """Read the fleet. Without `active_query`, the active mailboxes are the lease rows as the
    workers last synced them; with it, the query is run (one join over all active mailboxes)."""
    with guarded(db, "reading the worker fleet", write=False) as conn:
        rows = conn.execute(_sql(db, "fleet_workers"), {"ttl_ms": lease_ttl_ms}).all()
        if active_query is None:
            total, backlog = conn.execute(_sql(db, "fleet_leases")).one()
        else:
            active = active_query.strip().rstrip(";").strip()
            total, backlog = conn.execute(_sql(db, "fleet_active", active)).one()
    workers = tuple(
        WorkerStatus(
            id=str(r[0]),
            name=str(r[1]),
            host=str(r[2]),
            pid=int(r[3]),
            state=str(r[4]),
            started_at_ms=int(r[5]),
            heartbeat_age_ms=max(int(r[6]), 0),
            owned=int(r[7]),
        )
        for r in rows
    )
    return FleetSnapshot(
        workers=workers,
        live=sum(w.state == ACTIVE for w in workers),
        draining=sum(w.state == DRAINING for w in workers),
        backlog=int(backlog),
        active_mailboxes=int(total),
    )


def count_live_workers(db: Database, lease_ttl_ms: int) -> int:
    """Live workers in state active (draining ones are on their way out and not counted)."""
    with guarded(db, "counting live workers", write=False) as conn:
        return int(conn.execute(_sql(db, "count_live"), {"ttl_ms": lease_ttl_ms}).scalar_one())
