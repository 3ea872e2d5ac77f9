"""The worker fleet as the rest of the system reads it: live workers and who owns what.

The workers write these tables (`store.registry`, `store.leases`); the controller, the status and
the platforms that count registered workers only read them, through here. Both reads touch the
registrations and the fleet row only, never the leases. All times are the database's clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import TextClause

from warmup_autoscaler.store.database import Database, guarded
from warmup_autoscaler.store.worker_schema import worker_sql

__all__ = [
    "ACTIVE",
    "DRAINING",
    "FleetSnapshot",
    "WorkerStatus",
    "count_live_workers",
    "fleet_snapshot",
]

ACTIVE = "active"
DRAINING = "draining"

SQL: dict[str, str] = {
    "count_live": """
        SELECT count(*) FROM {workers}
        WHERE state = 'active' AND heartbeat_at > {now} - :ttl_ms""",
    "fleet_workers": """
        SELECT id, name, host, pid, state, started_at, {now} - heartbeat_at, owned
        FROM {workers} WHERE heartbeat_at > {now} - :ttl_ms ORDER BY started_at, id""",
    "fleet_mailboxes": "SELECT mailboxes FROM {fleet} WHERE id = {row}",
}


def _sql(db: Database, name: str) -> TextClause:
    return worker_sql(SQL[name], db.dialect_name)


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


def fleet_snapshot(db: Database, lease_ttl_ms: int) -> FleetSnapshot:
    """Read the fleet: the registrations (one row per worker) and the fleet row, never the
    leases, so it costs the same at any number of mailboxes. `owned` is kept by each claim and
    release; the active mailboxes are the lease rows as the leader last synced them, and the
    backlog is those not held by a listed worker."""
    with guarded(db, "reading the worker fleet", write=False) as conn:
        rows = conn.execute(_sql(db, "fleet_workers"), {"ttl_ms": lease_ttl_ms}).all()
        total = conn.execute(_sql(db, "fleet_mailboxes")).scalar() or 0
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
        backlog=max(int(total) - sum(w.owned for w in workers), 0),
        active_mailboxes=int(total),
    )


def count_live_workers(db: Database, lease_ttl_ms: int) -> int:
    """Live workers in state active (draining ones are on their way out and not counted)."""
    with guarded(db, "counting live workers", write=False) as conn:
        return int(conn.execute(_sql(db, "count_live"), {"ttl_ms": lease_ttl_ms}).scalar_one())
