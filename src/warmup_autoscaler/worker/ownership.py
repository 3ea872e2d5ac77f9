"""One heartbeat of one worker, synchronous and step-by-step testable: what it owns afterwards.

Each heartbeat: refresh the registry row, prune dead workers, let the oldest live worker sync the
lease rows with the active mailboxes, renew this worker's unexpired leases, then move toward the
target `min(capacity, ceil(active / live workers))`: claim the shortfall, or report the excess for
the caller to release (mailboxes not in the middle of a cycle). Workers above the target shed only
their excess and workers at it claim nothing, so on a join only about `active / (n + 1)`
mailboxes change owner: the least possible.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from warmup_autoscaler.store.database import Database
from warmup_autoscaler.worker.leases import LeaseStore, SyncResult
from warmup_autoscaler.worker.registry import ACTIVE, DRAINING, Registry, WorkerIdentity

__all__ = ["LeaseKeeper", "Tick", "fair_target", "pick_excess"]


def fair_target(active_mailboxes: int, live_workers: int, capacity: int) -> int:
    """How many mailboxes one active worker should own: its fair share, capped by capacity."""
    if active_mailboxes <= 0:
        return 0
    return min(capacity, math.ceil(active_mailboxes / max(live_workers, 1)))


def pick_excess(owned: Collection[int], n: int, busy: Collection[int] = ()) -> list[int]:
    """Up to `n` of `owned` to release, never one in `busy` (a cycle is running on it)."""
    if n <= 0:
        return []
    idle = sorted(m for m in owned if m not in busy)
    return idle[len(idle) - min(n, len(idle)) :]


@dataclass(frozen=True, kw_only=True)
class Tick:
    """What one heartbeat found and did."""

    owned: Mapping[int, int]  # {mailbox_id: epoch} held after this heartbeat
    claimed: Mapping[int, int] = field(default_factory=dict)  # newly claimed, with new epochs
    live_workers: int = 0  # live workers in state active
    active_mailboxes: int = 0
    target: int = 0
    excess: int = 0  # owned beyond target: the caller should release this many
    synced: SyncResult | None = None  # set when this worker synced the lease rows
    pruned: int = 0


class LeaseKeeper:
    """The registry and lease steps of one worker. Thread-safe; after `close()` it writes
    nothing more, so a heartbeat still running in a thread cannot re-register a drained worker."""

    def __init__(
        self,
        db: Database,
        me: WorkerIdentity,
        *,
        lease_ttl_ms: int,
        capacity: int,
        active_query: str,
    ) -> None:
        self.me = me
        self.capacity = capacity
        self.registry = Registry(db, lease_ttl_ms=lease_ttl_ms)
        self.leases = LeaseStore(db, active_query=active_query, lease_ttl_ms=lease_ttl_ms)
        self._lock = threading.Lock()
        self._closed = False

    def heartbeat(self, *, draining: bool = False) -> Tick:
        """Register, prune, sync (if oldest), renew, and claim up to the target unless draining."""
        with self._lock:
            if self._closed:
                return Tick(owned={})
            me = self.me.id
            self.registry.beat(self.me, DRAINING if draining else ACTIVE)
            pruned = self.registry.prune()
            live = self.registry.live_active_ids()
            synced = None
            if not draining and live and live[0] == me:
                synced = self.leases.sync()
            owned = self.leases.renew(me)
            total, free = self.leases.counts()
            target = 0 if draining else fair_target(total, len(live), self.capacity)
            claimed: dict[int, int] = {}
            if len(owned) < target and free > 0:
                claimed = self.leases.claim(me, target - len(owned))
                owned.update(claimed)
            return Tick(
                owned=owned,
                claimed=claimed,
                live_workers=len(live),
                active_mailboxes=total,
                target=target,
                excess=max(len(owned) - target, 0),
                synced=synced,
                pruned=pruned,
            )

    def release(self, mailbox_ids: Collection[int]) -> int:
        """Release these leases now (epochs unchanged; the next claim bumps them)."""
        if not mailbox_ids:
            return 0
        with self._lock:
            return self.leases.release(self.me.id, mailbox_ids)

    def step(self, busy: Collection[int] = ()) -> Tick:
        """`heartbeat()` then release its excess (none of `busy`); returns what is held after."""
        tick = self.heartbeat()
        shed = pick_excess(tick.owned, tick.excess, busy)
        if not shed:
            return tick
        self.release(shed)
        gone = set(shed)
        owned = {m: e for m, e in tick.owned.items() if m not in gone}
        return Tick(
            owned=owned,
            claimed=tick.claimed,
            live_workers=tick.live_workers,
            active_mailboxes=tick.active_mailboxes,
            target=tick.target,
            excess=max(len(owned) - tick.target, 0),
            synced=tick.synced,
            pruned=tick.pruned,
        )

    def set_draining(self) -> None:
        """Mark this worker draining at once, so the others' fair share no longer counts it."""
        with self._lock:
            if not self._closed:
                self.registry.beat(self.me, DRAINING)

    def close(self) -> int:
        """Release every lease and deregister; returns how many leases were released."""
        with self._lock:
            self._closed = True
            released = self.leases.release_all(self.me.id)
            self.registry.deregister(self.me)
            return released
