"""The worker fleet as the rest of the system reads it: live workers and who owns what.

The workers write these tables (see `warmup_autoscaler.worker`); the controller, the status and
the platforms that count registered workers only read them, through here, so nothing outside the
worker runtime imports it. All times are the database's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from warmup_autoscaler.store.database import Database, guarded, now_ms_sql

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
        SELECT count(*) FROM autoscaler_workers
        WHERE state = 'active' AND heartbeat_at > {now} - :ttl_ms""",
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
