"""The worker process: heartbeat loop, cycle scheduler and graceful drain, on asyncio.

States:   starting --first heartbeat--> active --SIGTERM/SIGINT--> draining --> stopped
          (active: claims, renews, runs cycles; draining: claims nothing, releases every idle
          lease at once and each busy one when its cycle ends, cancels what still runs near
          the drain deadline, then releases all and deregisters; exit code 0.)
Database calls run in a small thread pool, all through the `LeaseKeeper` (one lock, nothing
written once closed); the leader's lease sync runs as a task of its own, off the heartbeat. A
failing database is logged and retried on the next heartbeat, and while the registration cannot
be renewed no new cycle starts (it expires on its own, and with it every lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import random
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from warmup_autoscaler.config import Settings
from warmup_autoscaler.errors import StoreError
from warmup_autoscaler.liveness import touch_heartbeat
from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.lease_sync import SyncPolicy
from warmup_autoscaler.store.registry import WorkerIdentity
from warmup_autoscaler.worker.jobs import Cycle, Job
from warmup_autoscaler.worker.ownership import LeaseKeeper, Tick, to_release
from warmup_autoscaler.worker.schedule import CycleSchedule

__all__ = ["CycleStats", "Worker", "WorkerConfig"]

log = get_logger("warmup_autoscaler.worker")
T = TypeVar("T")
FINAL_PHASE_MAX_MS = 2000  # of the drain timeout, kept for releasing leases and deregistering


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    """The worker's timings (all in ms) and limits; see the AUTO_SCALER_WORKER_* settings."""

    heartbeat_ms: int = 5000
    lease_ttl_ms: int = 30_000
    drain_timeout_ms: int = 25_000
    cycle_interval_ms: int = 300_000
    concurrency: int = 10
    capacity: int = 1000  # AUTO_SCALER_MAILBOXES_PER_WORKER
    active_query: str = "SELECT * FROM mailboxes WHERE status = 'active'"
    heartbeat_file: Path | None = None  # AUTO_SCALER_WORKER_HEARTBEAT_FILE: the liveness signal
    lease_sync_duty: float = 0.02  # the most of the database's time the lease sync may take

    @property
    def sync_policy(self) -> SyncPolicy:
        """Sync at most once a heartbeat, and rarer when a sync takes long (`store.lease_sync`)."""
        return SyncPolicy(min_interval_ms=self.heartbeat_ms, duty=self.lease_sync_duty)

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        w = settings.worker
        return cls(
            heartbeat_ms=w.heartbeat_ms,
            lease_ttl_ms=w.lease_ttl_ms,
            drain_timeout_ms=w.drain_timeout_ms,
            cycle_interval_ms=w.cycle_interval_ms,
            concurrency=w.concurrency,
            capacity=settings.policy.mailboxes_per_worker,
            active_query=w.active_mailboxes_query,
            heartbeat_file=w.heartbeat_file,
        )


@dataclass(kw_only=True)
class CycleStats:
    """Counters of cycles since start; `fenced` ran but lost the lease before recording."""

    started: int = 0
    recorded: int = 0
    fenced: int = 0
    unrecorded: int = 0  # the job finished without calling record()
    skipped: int = 0  # lease lost or mailbox inactive before the cycle began
    failed: int = 0
    cancelled: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Worker:
    """One worker: owns mailboxes by lease and runs `job` on each, every cycle interval."""

    def __init__(
        self,
        db: Database,
        config: WorkerConfig,
        me: WorkerIdentity,
        job: Job,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.me = me
        self.stats = CycleStats()
        self._job = job
        self._rng = rng or random.Random()
        self._keeper = LeaseKeeper(
            db,
            me,
            lease_ttl_ms=config.lease_ttl_ms,
            capacity=config.capacity,
            active_query=config.active_query,
            sync=config.sync_policy,
        )
        self._executor = ThreadPoolExecutor(config.concurrency + 2, thread_name_prefix="worker-db")
        self._owned: dict[int, int] = {}  # mailbox -> epoch
        self._due = CycleSchedule()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(config.concurrency)
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._draining = False
        self._valid_until = 0.0  # monotonic s until which our leases surely have not expired
        self._syncing: asyncio.Task[None] | None = None
        self._beat_now = asyncio.Event()  # a sync changed the leases: beat without waiting
        self.registered = asyncio.Event()

    @property
    def owned(self) -> dict[int, int]:
        """{mailbox_id: epoch} this worker believes it holds."""
        return dict(self._owned)

    def request_stop(self) -> None:
        """Begin the graceful drain (what SIGTERM and SIGINT do)."""
        if not self._stop.is_set():
            log.info("worker_stop_requested", worker=self.me.name)
        self._stop.set()

    async def run(self) -> int:
        """Run until asked to stop, then drain; returns the exit code (0)."""
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, RuntimeError):  # not the main thread
                loop.add_signal_handler(sig, self.request_stop)
                handled.append(sig)
        log.info("worker_starting", worker=self.me.name, id=self.me.id, pid=self.me.pid)
        beats = asyncio.create_task(self._heartbeat_loop())
        scheduler = asyncio.create_task(self._schedule_loop())
        try:
            await self._stop.wait()
            await self._drain(beats, scheduler)
        finally:
            for task in (beats, scheduler):
                task.cancel()
            for sig in handled:
                loop.remove_signal_handler(sig)
            self._executor.shutdown(wait=False, cancel_futures=True)
        return 0

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def _heartbeat_loop(self) -> None:
        period = self.config.heartbeat_ms / 1000
        next_at = time.monotonic()
        while True:
            await self._beat()
            next_at = max(next_at + period, time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._beat_now.wait(), next_at - time.monotonic())
            self._beat_now.clear()

    async def _beat(self) -> None:
        began = time.monotonic()
        try:
            tick = await self._call(self._keeper.heartbeat, draining=self._draining)
        except StoreError as exc:
            log.warning("heartbeat_failed", worker=self.me.name, error=exc.message)
            return
        self._valid_until = began + self.config.lease_ttl_ms / 1000
        if self.config.heartbeat_file is not None:
            touch_heartbeat(self.config.heartbeat_file)
        if not self.registered.is_set():
            self.registered.set()
            log.info("worker_registered", worker=self.me.name, id=self.me.id)
        elif tick.lost:
            log.warning("registration_expired", worker=self.me.name, lost=tick.lost)
        self._apply(tick)
        shed = to_release(tick, self._running)
        if shed:
            self._forget(shed)
            try:
                await self._call(self._keeper.release, shed)
            except StoreError as exc:
                log.warning("release_failed", worker=self.me.name, error=exc.message)
        if tick.sync_due and (self._syncing is None or self._syncing.done()):
            self._syncing = asyncio.create_task(self._sync())
        if tick.claimed or shed:
            log.info(
                "leases_changed",
                worker=self.me.name,
                owned=len(self._owned),
                claimed=len(tick.claimed),
                released=len(shed),
                retired=len(tick.retired),
                target=tick.target,
                live_workers=tick.live_workers,
                active_mailboxes=tick.active_mailboxes,
            )

    async def _sync(self) -> None:
        try:
            synced = await self._call(self._keeper.sync)
        except StoreError as exc:
            log.warning("lease_sync_failed", worker=self.me.name, error=exc.message)
            return
        if synced is not None and (synced.inserted or synced.retired or synced.restored):
            log.info("leases_synced", worker=self.me.name, **vars(synced))
            self._beat_now.set()  # claim its share of the new total now, not a heartbeat later

    def _apply(self, tick: Tick) -> None:
        """Adopt the heartbeat's view: drop lost leases, schedule new ones at a random offset."""
        lost = [m for m in self._owned if m not in tick.owned]
        self._forget(lost)
        interval = self.config.cycle_interval_ms / 1000
        now = time.monotonic()
        for mailbox, epoch in tick.owned.items():
            if self._owned.get(mailbox) != epoch:
                self._owned[mailbox] = epoch
                self._due.set(mailbox, now + self._rng.uniform(0, interval))
        self._wake.set()

    def _forget(self, mailboxes: list[int]) -> None:
        for mailbox in mailboxes:
            self._owned.pop(mailbox, None)
            self._due.drop(mailbox)

    async def _schedule_loop(self) -> None:
        while not self._draining:
            await self._slots.acquire()
            mailbox = await self._next_due()
            if mailbox is None:
                self._slots.release()
                return
            epoch = self._owned[mailbox]
            self._running[mailbox] = asyncio.create_task(self._cycle(mailbox, epoch))

    async def _next_due(self) -> int | None:
        """Wait for the next mailbox whose cycle is due; None once draining."""
        interval = self.config.cycle_interval_ms / 1000
        while not self._draining:
            now = time.monotonic()
            popped = self._due.pop_due(now)
            if popped is None:
                due = self._due.next_due()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), None if due is None else due - now)
                continue
            mailbox, due = popped
            if mailbox in self._running:
                continue  # the running cycle schedules the next one when it ends
            if now > self._valid_until:  # leases not renewed lately: do not start on a doubt
                self._due.set(mailbox, due + interval)
                continue
            return mailbox
        return None

    async def _cycle(self, mailbox: int, epoch: int) -> None:
        began = time.monotonic()
        try:
            start = await self._call(self._keeper.start_cycle, mailbox, epoch)
            if start is None:
                self.stats.skipped += 1
                return
            self.stats.started += 1
            cycle = Cycle(
                mailbox=start[1],
                mailbox_id=mailbox,
                epoch=epoch,
                worker_id=self.me.id,
                started_at_ms=start[0],
                writer=self._write,
            )
            result = self._job(cycle)
            if not inspect.isawaitable(result):
                raise TypeError("the job must be an async callable (it returned no awaitable)")
            await result
            if cycle.fenced:
                self.stats.fenced += 1
                log.warning("cycle_fenced", worker=self.me.name, mailbox=mailbox, epoch=epoch)
            elif cycle.recorded:
                self.stats.recorded += 1
            else:
                self.stats.unrecorded += 1
        except asyncio.CancelledError:
            self.stats.cancelled += 1
            raise
        except StoreError as exc:
            self.stats.failed += 1
            log.warning("cycle_failed", worker=self.me.name, mailbox=mailbox, error=exc.message)
        except Exception:  # the user's job failed: log it, keep the worker running
            self.stats.failed += 1
            log.exception("job_failed", worker=self.me.name, mailbox=mailbox)
        finally:
            self._running.pop(mailbox, None)
            self._slots.release()
            if not self._draining and mailbox in self._owned and mailbox not in self._due:
                self._due.set(mailbox, began + self.config.cycle_interval_ms / 1000)
                self._wake.set()

    async def _write(self, cycle: Cycle, outcome: str, detail: str | None) -> bool:
        return await self._call(
            self._keeper.record_cycle,
            mailbox_id=cycle.mailbox_id,
            epoch=cycle.epoch,
            started_at_ms=cycle.started_at_ms,
            outcome=outcome,
            detail=detail,
        )

    async def _drain(self, beats: asyncio.Task[None], scheduler: asyncio.Task[None]) -> None:
        timeout_ms = self.config.drain_timeout_ms
        final_phase_ms = min(FINAL_PHASE_MAX_MS, timeout_ms // 5)
        cancel_at = time.monotonic() + (timeout_ms - final_phase_ms) / 1000
        self._draining = True
        self._wake.set()
        scheduler.cancel()
        log.info("worker_draining", worker=self.me.name, running=len(self._running))
        idle = [m for m in self._owned if m not in self._running]
        self._forget(idle)
        await self._quietly("marking the worker draining", self._keeper.set_draining)
        released = await self._quietly("releasing idle leases", self._keeper.release, idle) or 0
        pending = {task: m for m, task in self._running.items()}
        while pending and (left := cancel_at - time.monotonic()) > 0:
            done, _ = await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            finished = [pending.pop(task) for task in done]
            self._forget(finished)
            released += await self._quietly("releasing leases", self._keeper.release, finished) or 0
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        beats.cancel()
        await asyncio.gather(beats, return_exceptions=True)
        if self._syncing is not None:
            self._syncing.cancel()  # its thread stops at the next chunk once the keeper closes
        released += await self._quietly("releasing all leases", self._keeper.close) or 0
        log.info(
            "worker_drained",
            worker=self.me.name,
            cancelled_in_drain=len(pending),
            released=released,
            **self.stats.as_dict(),
        )

    async def _quietly(self, doing: str, fn: Callable[..., T], *args: Any) -> T | None:
        """Run a drain step; a database failure is logged (the leases then expire on their own)."""
        try:
            return await self._call(fn, *args)
        except StoreError as exc:
            log.warning("drain_step_failed", worker=self.me.name, step=doing, error=exc.message)
            return None
