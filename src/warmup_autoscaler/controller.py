"""One check = count, decide, execute, record. Checks never overlap.

The controller owns the daemon's view of the world (cooldown times, pause, the last check) and
publishes it as a `Status` after every change, so the API answers from memory. It takes narrow
capabilities: something that counts, a platform, a journal store; what else follows a check
(alerts, metrics) observes it.

A check's states:

    prepare (migrate, load cooldowns) -> count -> read workers -> decide -> execute? -> publish
        -> journal (in the background; see `journal`)
    any step failing ends the check with `error` set; nothing is scaled after a failure,
    so a failed count can never remove a worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from warmup_autoscaler.alerts.rules import FiringAlert
from warmup_autoscaler.config import Settings
from warmup_autoscaler.errors import AutoscalerError
from warmup_autoscaler.journal import JournalStore, JournalWriter, SampleSink, log_check
from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.outlook import Outlook
from warmup_autoscaler.platforms.base import Platform
from warmup_autoscaler.policy import Action, Decision, decide
from warmup_autoscaler.status import CheckResult, Status
from warmup_autoscaler.store.state import ScalerState
from warmup_autoscaler.store.workers import FleetSnapshot

__all__ = ["Controller", "Counter", "utc_now"]

log = get_logger("warmup_autoscaler.controller")


class Counter(Protocol):
    def count(self) -> int: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


class _StepFailed(Exception):
    """A read of `_observe` failed; `step` says which."""

    def __init__(self, step: str, error: AutoscalerError) -> None:
        super().__init__(step)
        self.step = step
        self.error = error


class Controller:
    def __init__(
        self,
        *,
        settings: Settings,
        counter: Counter,
        platform: Platform,
        journal: JournalStore,
        prepare: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utc_now,
        resume_fleet: bool = False,
        history: SampleSink | None = None,
        fleet: Callable[[], FleetSnapshot] | None = None,
        observers: Sequence[Callable[[CheckResult], None]] = (),
        alerts: Callable[[], tuple[FiringAlert, ...]] = tuple,
        outlook: Outlook | None = None,
    ) -> None:
        self.settings = settings
        self.policy = settings.policy.to_policy()
        self._counter = counter
        self._platform = platform
        self._prepare = prepare
        self.clock = clock  # the time decisions and the status are taken at
        self._resume_fleet = resume_fleet
        self._alerts = alerts
        self._outlook = outlook  # the window's peak and a forecast (tracking, predictive)
        # Called with each check's result, in order: its log line, then e.g. alerts and metrics.
        self.observers: list[Callable[[CheckResult], None]] = [log_check, *observers]
        self.journal = JournalWriter(
            journal,
            mailboxes_per_worker=self.policy.mailboxes_per_worker,
            history=history,
            fleet=fleet,
            on_change=self._refresh,
        )
        self._lock = asyncio.Lock()
        self._state: ScalerState | None = None
        self.last: CheckResult | None = None
        self.last_decision: CheckResult | None = None  # the last check that reached a decision
        self.status = self._build_status()

    @property
    def state(self) -> ScalerState:
        return self._state or ScalerState(last_scale_up_at=None, last_scale_down_at=None)

    @property
    def last_error(self) -> str | None:
        """Why the last check failed, else why the journal cannot be written, else None."""
        return (self.last.error if self.last else None) or self.journal.error

    async def check(self, trigger: str = "interval", *, wait_journal: bool = True) -> CheckResult:
        """Run one check; a check already running is waited for first (checks never overlap).

        The result is published (status, log line, observers) as soon as it is known, then
        journaled. With `wait_journal=False` (the daemon's loop) the journal row is written after
        `check` returns, in order: the next check, pause, resume or `flush()` waits for it. A
        check that changed the cooldowns always waits for its write, so a restart right after a
        scaling action still keeps the cooldown.
        """
        async with self._lock:
            await self.journal.flush()
            result, changed = await self._check(trigger)
            self._publish(result)
            self.journal.add(result, self.state if changed else None)
            if wait_journal or changed:
                await self.journal.flush()
            return result

    async def flush(self) -> None:
        """Wait until every finished check is in the journal (or kept in memory after a failure)."""
        await self.journal.flush()

    async def pause(self, *, minutes: float | None, reason: str | None) -> ScalerState:
        """Stop executing decisions (until resumed, or for `minutes`); checks and journal go on."""
        async with self._lock:
            await self._ready()
            now = self.clock()
            until = now + timedelta(minutes=minutes) if minutes else None
            self._state = replace(
                self.state, paused_at=now, paused_until=until, pause_reason=reason
            )
            await asyncio.to_thread(self.journal.store.save, self._state)
            self._refresh()
            log.warning("paused", until=_iso(until), reason=reason)
            return self._state

    async def resume(self) -> ScalerState:
        async with self._lock:
            await self._ready()
            self._state = replace(self.state, paused_at=None, paused_until=None, pause_reason=None)
            await asyncio.to_thread(self.journal.store.save, self._state)
            self._refresh()
            log.warning("resumed")
            return self._state

    async def _ready(self) -> None:
        await self.journal.flush()
        if self._state is None:
            await asyncio.to_thread(self._prepare)
            self._state = await asyncio.to_thread(self.journal.store.load)
            await self._resume()

    def _skip_reason(self, now: datetime) -> str | None:
        if not self.settings.daemon.enabled:
            return "disabled"
        if self.settings.daemon.dry_run:
            return "dry-run"
        if self.state.paused(now):
            return "paused"
        return None

    async def _check(self, trigger: str) -> tuple[CheckResult, bool]:
        """The check's result, and whether it changed the cooldown times."""
        started, now = time.perf_counter(), self.clock()

        def done(decision: Decision | None, **outcome: Any) -> CheckResult:
            ms = round((time.perf_counter() - started) * 1000, 3)
            return CheckResult(
                checked_at=now, trigger=trigger, decision=decision, duration_ms=ms, **outcome
            )

        try:
            await self._ready()
            mailboxes, workers = await asyncio.to_thread(self._observe)
        except _StepFailed as exc:
            return done(None, error=exc.error.message, failed_step=exc.step), False
        except AutoscalerError as exc:
            return done(None, error=exc.message, failed_step="prepare"), False
        state = self.state
        inputs = self._outlook.inputs(now, mailboxes) if self._outlook else None
        decision = decide(
            mailboxes=mailboxes,
            workers=workers,
            cfg=self.policy,
            last_scale_up=state.last_scale_up_at,
            last_scale_down=state.last_scale_down_at,
            now=now,
            window_peak=inputs.window_peak if inputs else None,
            forecast=inputs.forecast if inputs else None,
        )
        if decision.action is Action.NO_CHANGE:
            return done(decision), False
        if skipped := self._skip_reason(now):
            return done(decision, skipped=skipped), False
        try:
            await asyncio.to_thread(self._platform.scale_to, decision.target_workers)
        except AutoscalerError as exc:
            return done(decision, error=exc.message, failed_step="scale"), False
        up = decision.action is Action.SCALE_UP
        self._state = replace(
            state,
            workers=decision.target_workers,
            last_scale_up_at=now if up else state.last_scale_up_at,
            last_scale_down_at=state.last_scale_down_at if up else now,
        )
        try:
            after: int | None = await asyncio.to_thread(self._platform.current_workers)
        except AutoscalerError:
            after = None
        return done(decision, executed=True, workers_after=after), True

    def _observe(self) -> tuple[int, int]:
        """The blocking reads a decision needs, in one thread hop: the count, then the workers."""
        try:
            mailboxes = self._counter.count()
        except AutoscalerError as exc:
            raise _StepFailed("count", exc) from exc
        try:
            workers = self._platform.current_workers()
        except AutoscalerError as exc:
            raise _StepFailed("platform", exc) from exc
        return mailboxes, workers

    async def _resume(self) -> None:
        """Bring a fleet the daemon supervises back to the size it last set, before deciding.

        Local workers stop with the daemon; without this, every restart would start from zero and
        count as a fresh scale-up that resets the cooldown.
        """
        wanted = self.state.workers
        if not self._resume_fleet or wanted is None:
            return
        wanted = max(self.policy.min_workers, min(self.policy.max_workers, wanted))
        if await asyncio.to_thread(self._platform.current_workers) < wanted:
            log.info("resuming_fleet", workers=wanted)
            await asyncio.to_thread(self._platform.scale_to, wanted)

    def _publish(self, result: CheckResult) -> None:
        self.last = result
        if result.decision is not None:
            self.last_decision = result
        for observe in self.observers:
            try:
                observe(result)
            except Exception:  # an observer must never break the loop
                log.exception("observer_failed", observer=repr(observe))
        self._refresh()

    def _refresh(self) -> None:
        """Publish a new `Status` (the API serializes each one once)."""
        self.status = self._build_status()

    def _build_status(self) -> Status:
        daemon = self.settings.daemon
        return Status(
            enabled=daemon.enabled,
            dry_run=daemon.dry_run,
            platform=daemon.platform,
            check_interval_ms=daemon.check_interval_ms,
            policy=self.policy,
            state=self.state,
            last_check=self.last,
            last_decision=self.last_decision,
            last_error=self.last_error,
            fleet=self.journal.fleet,
            alerts=self._alerts(),
        )


def _iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t else None
