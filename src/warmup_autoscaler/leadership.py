"""The election loop: this instance's bid for the leader's lease, renewed while it leads.

A leader renews every third of the lease; a standby tries again every `STANDBY_POLL_S`, so a
lease released by a leader that stops is taken within that, and one left by a leader that died
within the lease and one poll. A dry-run instance takes no part: it only reads who leads
(`contend=False`, role "shadow").

The leader trusts its lease, by its own monotonic clock, only for `LOCAL_SHARE` of the lease
after the *start* of its last successful renewal. The database's lease began after that start, so
a leader that lost the database, or was frozen, stops acting a safety margin before any other
instance can take over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from warmup_autoscaler.errors import AutoscalerError, MissingTablesError
from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.status import LeaderView
from warmup_autoscaler.store.leader import LeaseView, Term

__all__ = ["LOCAL_SHARE", "STANDBY_POLL_S", "Election", "LeaseStore", "new_instance_id"]

log = get_logger("warmup_autoscaler.leadership")

LOCAL_SHARE = 0.8  # of the lease this instance trusts, from the start of its last renewal
STANDBY_POLL_S = 0.25  # how often a standby looks for a free lease
RENEWALS_PER_LEASE = 3


class LeaseStore(Protocol):
    """The lease in the database (`warmup_autoscaler.store.leader.LeaderStore`)."""

    @property
    def instance(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def lease_ms(self) -> int: ...

    def read(self) -> LeaseView: ...
    def elect(self) -> LeaseView: ...
    def release(self) -> None: ...


def new_instance_id() -> str:
    """`<hostname>-<pid>-<4 hex digits>`: the host (a Kubernetes pod's name) first, unique per
    process start."""
    return f"{socket.gethostname()[:80]}-{os.getpid()}-{secrets.token_hex(2)}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Election:
    """Implements the controller's `Leadership` for one instance.

    `on_change` is called (on the event loop) when the role, the leader or the election's error
    changed; `on_lost` once another instance is seen leading after this one led (not when its
    lease merely ran out by its own clock, with the database out of reach: then nobody else may
    lead either); `elected` is set when it starts leading (and cleared by whoever acts on it).
    """

    def __init__(
        self,
        store: LeaseStore,
        *,
        contend: bool = True,
        prepare: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._contend = contend
        self._prepare = prepare
        self.on_change: Callable[[], None] = lambda: None
        self.on_lost: Callable[[], object] = lambda: None
        self._clock = clock
        self._wall = wall
        self._lease_s = store.lease_ms / 1000
        # The term from the last successful round and until when (on `clock`) it is trusted; one
        # tuple, so `current()` on another thread never sees one half of an update.
        self._lease: tuple[Term | None, float] = (None, 0.0)
        self._seen: LeaseView | None = None
        self._seen_at: datetime | None = None  # on `wall`, when `_seen` was read
        self._announced: Term | None = None  # the term last reported as leading
        self._led = False  # led since it last stood down
        self._last_seen: tuple[str | None, str | None] = (None, None)  # leader and error reported
        self._error: str | None = None
        self.elected = asyncio.Event()

    @property
    def instance(self) -> str:
        return self._store.instance

    def current(self) -> Term | None:
        """This instance's term while it leads, by its own clock; None otherwise."""
        term, valid_until = self._lease
        return term if term is not None and self._clock() < valid_until else None

    def view(self) -> LeaderView:
        seen, leading = self._seen, self.current()
        role = "leader" if leading else ("standby" if self._contend else "shadow")
        if seen is None or self._seen_at is None:
            return LeaderView(role=role, instance=self.instance, error=self._error)
        held = seen.lease.held(seen.now_ms)
        return LeaderView(
            role=role,
            instance=self.instance,
            error=self._error,
            term=seen.lease.term or None,
            leader_instance=seen.lease.holder if held else None,
            lease_expires_at=(
                self._seen_at + timedelta(milliseconds=seen.remaining_ms) if held else None
            ),
        )

    def round(self) -> None:
        """One election round (blocking): renew or take the lease, or see who holds it. A failed
        round changes nothing; the lease held so far runs out by the clock."""
        started = self._clock()
        try:
            seen = self._elect()
        except AutoscalerError as exc:
            if exc.message != self._error:
                log.warning("election_failed", error=exc.message)
            self._error = exc.message
            return
        if self._error is not None:
            log.info("election_recovered")
            self._error = None
        self._seen, self._seen_at = seen, self._wall()
        term = seen.term_of(self.instance, self._store.name) if self._contend else None
        self._lease = (term, started + self._lease_s * LOCAL_SHARE)

    def _elect(self) -> LeaseView:
        bid = self._store.elect if self._contend else self._store.read
        try:
            return bid()
        except MissingTablesError:
            self._prepare()  # the daemon's first start on a fresh database
            return bid()

    def settle(self) -> None:
        """Report a change of role or leader since the last call (on the event loop)."""
        leading, before = self.current(), self._announced
        seen = (self.view().leader_instance, self._error)
        if leading is not None:
            self._led = True
        elif self._led and seen[0] not in (None, self.instance):
            self._led = False
            log.warning("deposed", instance=self.instance, leader=seen[0])
            self.on_lost()
        if leading == before and seen == self._last_seen:
            return
        self._announced, self._last_seen = leading, seen
        if before is not None and leading != before:
            log.warning("leadership_lost", instance=self.instance, term=before.number)
            self.elected.clear()
        if leading is not None and leading != before:
            log.info("elected", instance=self.instance, term=leading.number)
            self.elected.set()
        self.on_change()

    def poll_s(self) -> float:
        """How long to wait before the next round."""
        renew = self._lease_s / RENEWALS_PER_LEASE
        return renew if self.current() else min(renew, STANDBY_POLL_S)

    async def run(self, stop: asyncio.Event) -> None:
        """A round every `poll_s()` until `stop` is set (the caller runs the first one)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_s())
            if stop.is_set():
                return
            await asyncio.to_thread(self.round)
            self.settle()

    async def release(self) -> None:
        """Give the lease up, when held, so a standby takes over at once (at shutdown)."""
        held = self._lease[0] is not None
        self._lease = (None, 0.0)
        self._announced = None
        self._led = False
        self.elected.clear()
        if not held:
            return
        try:
            await asyncio.to_thread(self._store.release)
        except AutoscalerError as exc:
            log.warning("release_failed", error=exc.message)
            return
        log.info("released", instance=self.instance)
