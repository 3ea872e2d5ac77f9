"""One heartbeat of one worker, synchronous and step-by-step testable: what it owns afterwards.

A steady heartbeat is one statement: renew the registration, which renews every lease it holds
(`store.leases` has the design and its invariants), and read the fleet row. The rest happens
only when something changed:
- the membership version moved: re-read the live workers (how many, this one's rank, the leader);
- the leader prunes expired registrations, and so does anyone who finds the leader expired;
- below its share: claim the shortfall; above it: report the excess for the caller to release
  (never a mailbox in the middle of a cycle); leases of mailboxes gone inactive: report them too;
- the registration had expired (paused past the TTL, database unreachable): join anew, which
  releases everything it held, so nothing it may have lost is kept.
The share is `fair_target(active, live, capacity, rank)`: floor(active / live), plus one for the
`active mod live` oldest workers. Shares add up to exactly the active mailboxes, so a join moves
only the newcomer's share and a leave only the leaver's leases: the fewest possible.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from warmup_autoscaler.errors import StoreError
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.lease_sync import LeaseSync, SyncPolicy, SyncResult
from warmup_autoscaler.store.leases import LeaseStore
from warmup_autoscaler.store.registry import (
    ACTIVE,
    DRAINING,
    Beat,
    Membership,
    Registry,
    WorkerIdentity,
)

__all__ = ["LeaseKeeper", "Tick", "fair_target", "pick_excess", "to_release"]

T = TypeVar("T")


def fair_target(active_mailboxes: int, live_workers: int, capacity: int, rank: int = 0) -> int:
    """How many mailboxes the active worker of `rank` (0: the oldest) should own: its share of
    an even split (the first `active mod live` get one more), capped by capacity. Rank 0 gets
    the largest share, ceil(active / live)."""
    if active_mailboxes <= 0:
        return 0
    base, extra = divmod(active_mailboxes, max(live_workers, 1))
    return min(capacity, base + (1 if rank < extra else 0))


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
    active_mailboxes: int = 0  # as of the last lease sync
    target: int = 0
    excess: int = 0  # owned (not retired) beyond target: the caller should release this many
    retired: frozenset[int] = frozenset()  # owned, mailbox inactive: the caller should release
    sync_due: bool = False  # this worker leads and the lease sync is due: call `sync()`
    pruned: int = 0  # expired registrations deleted by this heartbeat
    lost: int = 0  # leases dropped because this worker's own registration had expired


def to_release(tick: Tick, busy: Collection[int] = ()) -> list[int]:
    """What to release after `tick`: its retired leases and its excess, none of them `busy`."""
    keep = [m for m in tick.owned if m not in tick.retired]
    retired = sorted(m for m in tick.retired if m not in busy)
    return retired + pick_excess(keep, tick.excess, busy)


class LeaseKeeper:
    """The registry and lease steps of one worker. Thread-safe: every statement runs under one
    lock, and after `close()` it writes nothing more, so neither a heartbeat nor a cycle still
    running in a thread can re-register a drained worker or write for it. The lease sync runs
    outside the lock (it can take a second at a million mailboxes) and stops once closed."""

    def __init__(
        self,
        db: Database,
        me: WorkerIdentity,
        *,
        lease_ttl_ms: int,
        capacity: int,
        active_query: str,
        sync: SyncPolicy | None = None,
    ) -> None:
        self.me = me
        self.capacity = capacity
        self.registry = Registry(db, lease_ttl_ms=lease_ttl_ms)
        self.leases = LeaseStore(db, active_query=active_query)
        self.syncer = LeaseSync(db, active_query=active_query, policy=sync or SyncPolicy())
        self._lock = threading.Lock()
        self._closed = False
        self._owned: dict[int, int] = {}  # {mailbox: epoch}, kept in step with every change
        self._state: str | None = None  # as last written; None until registered
        self._started_at = 0
        self._members: Membership | None = None
        self._recheck = False  # a claim or release failed halfway: re-read what is held

    def heartbeat(self, *, draining: bool = False) -> Tick:
        """Renew (or make) the registration, follow membership changes, and claim up to the
        share unless draining. The caller then releases `to_release(tick)` and, when
        `tick.sync_due`, runs `sync()` (off the heartbeat: it can take seconds)."""
        with self._lock:
            if self._closed:
                return Tick(owned={})
            return self._heartbeat(DRAINING if draining else ACTIVE)

    def _heartbeat(self, state: str) -> Tick:
        me = self.me.id
        beat, lost = self._renew(state)
        members, pruned = self._follow(beat)
        if self._recheck:
            self._owned = self.leases.held(me)
            self._recheck = False
        retired = self.leases.retired(me) if beat.holds_retired else set()
        if not retired <= self._owned.keys():
            self._recheck = True  # held but unknown here: a lost reply; re-read next time
            retired &= self._owned.keys()
        target = 0
        if state == ACTIVE:
            target = fair_target(beat.mailboxes, members.live, self.capacity, members.rank)
        claimed: dict[int, int] = {}
        if len(self._owned) - len(retired) < target:
            claimed = self._guard(self.leases.claim, me, target - len(self._owned) + len(retired))
            self._owned.update(claimed)
        return Tick(
            owned=dict(self._owned),
            claimed=claimed,
            live_workers=members.live,
            active_mailboxes=beat.mailboxes,
            target=target,
            excess=max(len(self._owned) - len(retired) - target, 0),
            retired=frozenset(retired),
            sync_due=state == ACTIVE and members.leader == me and beat.sync_due,
            pruned=pruned,
            lost=lost,
        )

    def _renew(self, state: str) -> tuple[Beat, int]:
        """Renew the registration in `state`; if it had expired (or never was), join anew,
        dropping everything held. Returns the beat and how many leases were dropped."""
        if self._state is not None and state != self._state:
            self.registry.set_state(self.me, state)
            self._state = state
        if self._state is not None:
            leader = self._members.leader if self._members else None
            beat = self.registry.beat(self.me, state=state, leader=leader)
            if beat is not None:
                return beat, 0
        lost = len(self._owned)
        self._owned.clear()
        self._members, self._recheck = None, False
        self._started_at = self.registry.join(self.me, state)
        self._state = state
        beat = self.registry.beat(self.me, state=state, leader=None)
        if beat is None:
            raise StoreError(
                "the worker's registration expired as soon as it was made; "
                "raise AUTO_SCALER_WORKER_LEASE_TTL_MS"
            )
        return beat, lost

    def _follow(self, beat: Beat) -> tuple[Membership, int]:
        """The membership as of `beat`, re-read only if it changed; the leader (or anyone, when
        the leader has expired) prunes expired registrations. Returns it and how many pruned."""
        if self._members is None or self._members.version != beat.members:
            self._members = self.registry.membership(self.me, self._started_at)
        pruned = 0
        if self._members.leader in (None, self.me.id) or not beat.leader_alive:
            pruned = self.registry.prune()
            if pruned:
                self._members = self.registry.membership(self.me, self._started_at)
        return self._members, pruned

    def release(self, mailbox_ids: Collection[int]) -> int:
        """Release these leases now (epochs unchanged; the next claim bumps them)."""
        if not mailbox_ids:
            return 0
        with self._lock:
            if self._closed:
                return 0
            released = self._guard(self.leases.release, self.me.id, mailbox_ids)
            for mailbox in mailbox_ids:
                self._owned.pop(mailbox, None)
            return released

    def sync(self) -> SyncResult | None:
        """Run the lease sync if it is due and nobody else runs it (see `store.lease_sync`)."""
        with self._lock:
            if self._closed:
                return None
        return self.syncer.run(stop=lambda: self._closed)

    def start_cycle(self, mailbox_id: int, epoch: int) -> tuple[int, dict[str, Any]] | None:
        """(database time, mailbox row) if a cycle may start now (`LeaseStore.start_cycle`)."""
        with self._lock:
            if self._closed:
                return None
            return self.leases.start_cycle(self.me.id, mailbox_id, epoch)

    def record_cycle(
        self, *, mailbox_id: int, epoch: int, started_at_ms: int, outcome: str, detail: str | None
    ) -> bool:
        """The fenced write of one cycle's row (`LeaseStore.record_cycle`); False once closed."""
        with self._lock:
            if self._closed:
                return False
            return self.leases.record_cycle(
                worker_id=self.me.id,
                mailbox_id=mailbox_id,
                epoch=epoch,
                started_at_ms=started_at_ms,
                outcome=outcome,
                detail=detail,
            )

    def set_draining(self) -> None:
        """Mark this worker draining at once, so the others' shares no longer count it."""
        with self._lock:
            if not self._closed and self._state == ACTIVE:
                self.registry.set_state(self.me, DRAINING)
                self._state = DRAINING

    def close(self) -> int:
        """Release every lease and deregister; returns how many leases were released."""
        with self._lock:
            self._closed = True
            if self._state is None:
                return 0
            self._owned.clear()
            return self.registry.leave(self.me)

    def _guard(self, write: Callable[..., T], *args: Any) -> T:
        """Run a claim or release; if it fails, its outcome is unknown: re-read next heartbeat."""
        try:
            return write(*args)
        except StoreError:
            self._recheck = True
            raise
