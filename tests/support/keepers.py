"""Driving a `LeaseKeeper` as the worker runtime drives it, one heartbeat at a time."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from sqlalchemy import text

from warmup_autoscaler.store.database import Database, now_ms_sql
from warmup_autoscaler.store.lease_sync import SyncPolicy
from warmup_autoscaler.store.worker_schema import leases, workers
from warmup_autoscaler.worker import LeaseKeeper, Tick, to_release

__all__ = ["EVERY_HEARTBEAT", "lease_rows", "step"]

EVERY_HEARTBEAT = SyncPolicy(duty=1.0)  # the leader syncs the leases at each of its heartbeats


def step(keeper: LeaseKeeper, busy: Collection[int] = ()) -> Tick:
    """One heartbeat as the worker runtime does it: heartbeat, release what the tick says (none
    of `busy`), then the lease sync when due, and if that changed the leases, at once another
    heartbeat and release; returns the last tick with what is held after."""
    tick, shed = _beat(keeper, busy)
    if tick.sync_due:
        synced = keeper.sync()
        if synced is not None and (synced.inserted or synced.retired or synced.restored):
            tick, shed = _beat(keeper, busy)
    gone = set(shed)
    owned = {m: e for m, e in tick.owned.items() if m not in gone}
    retired = tick.retired - gone
    return replace(
        tick, owned=owned, retired=retired, excess=max(len(owned) - len(retired) - tick.target, 0)
    )


def lease_rows(db: Database) -> list[tuple[int, str | None, int, bool]]:
    """Every lease row now: (mailbox, owner or None, epoch, whether the owner's registration is
    valid at the database clock, i.e. the lease is)."""
    now = now_ms_sql(db.dialect_name)
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT l.mailbox_id, l.worker_id, l.epoch, w.expires_at > {now} "
                f"FROM {leases.name} AS l LEFT JOIN {workers.name} AS w ON w.id = l.worker_id"
            )
        ).all()
    return [(int(m), w, int(e), bool(valid)) for m, w, e, valid in rows]


def _beat(keeper: LeaseKeeper, busy: Collection[int]) -> tuple[Tick, list[int]]:
    tick = keeper.heartbeat()
    shed = to_release(tick, busy)
    keeper.release(shed)
    return tick, shed
