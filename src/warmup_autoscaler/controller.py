"""One check = count, decide, execute, record. Checks never overlap.

The controller owns the daemon's view of the world (cooldown times, pause, the last check) and
publishes it as a `Status` after every change, so the API answers from memory. It takes narrow
capabilities: something that counts, a platform, a journal store; what else follows a check
(alerts, metrics) observes it.

A check's states:

    leading? -> prepare (migrate, load cooldowns) -> count -> read workers -> decide
        -> record the action, fenced by the term -> execute? -> publish
        -> journal (in the background; see `journal`)
    any step failing ends the check with `error` set; nothing is scaled after a failure,
    so a failed count can never remove a worker.

With an election (`Leadership`, the daemon's), only the leader checks; a standby's `check`,
`pause` and `resume` raise `NotLeaderError`. Each action is first recorded with the new cooldowns
in the state row, in the transaction that checks the leader's term, and the platform is called
only after that commit and while this instance's own clock still gives it the lease.
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
from warmup_autoscaler.errors import AutoscalerError, NotLeaderError
from warmup_autoscaler.journal import (
    JournalStore,
    JournalWriter,
    SampleSink,
    check_result,
    log_check,
)
from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.outlook import Outlook
from warmup_autoscaler.platforms.base import Platform
from warmup_autoscaler.policy import Action, Decision, decide
from warmup_autoscaler.status import CheckResult, LeaderView, Status
from warmup_autoscaler.store.leader import Term
from warmup_autoscaler.store.state import CheckRecord, ScalerState
from warmup_autoscaler.store.workers import FleetSnapshot

__all__ = ["Controller", "Counter", "Leadership", "utc_now"]

log = get_logger("warmup_autoscaler.controller")


class Counter(Protocol):
    def count(self) -> int: ...


class Leadership(Protocol):
    """Whether this instance leads, and under which term (the daemon's election loop)."""

    @property
    def instance(self) -> str:
        """This instance's id, as journaled."""
        ...

    def current(self) -> Term | None:
        """This instance's term while it leads by its own clock; None otherwise."""
        ...

    def view(self) -> LeaderView:
        """Who leads, for the status."""
        ...


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
        leadership: Leadership | None = None,
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
        self._leadership = leadership  # None: no election, this instance always acts
        self._term: Term | None = None  # the term the state was loaded under
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
        """Why the last check failed, else why the journal cannot be written, else why the
        election cannot reach the database, else None."""
        election = self._leadership.view().error if self._leadership else None
        return (self.last.error if self.last else None) or self.journal.error or election

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
            term = self._leading(checking=True)
            result, changed = await self._check(trigger, term)
            self._publish(result)
            self.journal.add(result)
            if wait_journal or changed:
                await self.journal.flush()
            return result

    async def flush(self) -> None:
        """Wait until every finished check is in the journal (or kept in memory after a failure)."""
        await self.journal.flush()

    async def pause(self, *, minutes: float | None, reason: str | None) -> ScalerState:
        """Stop executing decisions (until resumed, or for `minutes`); checks and journal go on.
        The pause is stored first: when that fails, nothing changes."""
        async with self._lock:
            term = self._leading(checking=False)
            await self._ready(term)
            now = self.clock()
            until = now + timedelta(minutes=minutes) if minutes else None
            paused = replace(self.state, paused_at=now, paused_until=until, pause_reason=reason)
            await self._store(paused, term)
            log.warning("paused", until=_iso(until), reason=reason)
            return paused

    async def resume(self) -> ScalerState:
        """Execute decisions again; stored first, like `pause`."""
        async with self._lock:
            term = self._leading(checking=False)
            await self._ready(term)
            resumed = replace(self.state, paused_at=None, paused_until=None, pause_reason=None)
            await self._store(resumed, term)
            log.warning("resumed")
            return resumed

    async def stand_down(self) -> None:
        """This instance no longer leads: stop the workers it supervises, if any (the leader runs
        the fleet now), and publish the new role."""
        if not self._resume_fleet:
            self._refresh()
            return
        async with self._lock:
            try:
                running = await asyncio.to_thread(self._platform.current_workers)
                if running:
                    log.warning("stopping_local_workers", workers=running)
                    await asyncio.to_thread(self._platform.scale_to, 0)
            except AutoscalerError as exc:
                log.error("stand_down_failed", error=exc.message)
            self._refresh()

    def follow(
        self, state: ScalerState, checks: Sequence[CheckRecord], fleet: FleetSnapshot | None
    ) -> None:
        """On a standby: show the leader's stored state and latest journaled checks (newest
        first) in the status. Nothing is observed or journaled again; leading, this is a no-op."""
        if self._leadership is None or self._leadership.current() is not None:
            return
        results = [check_result(c) for c in checks]
        self._state = state
        self.last = results[0] if results else None
        self.last_decision = next((r for r in results if r.decision is not None), None)
        self.journal.fleet = fleet
        self._refresh()

    def leadership_changed(self) -> None:
        """The election loop saw the lease change hands: publish a status with the new view."""
        self._refresh()

    async def _store(self, state: ScalerState, term: Term | None) -> None:
        """Persist, then swap: the state in memory changes only once it is saved."""
        await asyncio.to_thread(self.journal.store.save, state, term)
        self._state = state
        self._refresh()

    def _leading(self, *, checking: bool) -> Term | None:
        """The term this instance acts under (None without an election, or for a dry-run shadow's
        checks); a new term reloads the stored state. Raises `NotLeaderError` on a standby."""
        if self._leadership is None:
            return None
        term = self._leadership.current()
        if term is None and not (checking and self.settings.daemon.dry_run):
            view = self._leadership.view()
            leads = (
                f"{view.leader_instance} leads (term {view.term})"
                if view.leader_instance
                else "no instance leads right now"
            )
            raise NotLeaderError(
                f"this auto-scaler ({view.instance}) is a {view.role}: {leads}; send trigger, "
                "pause and resume to the leader"
            )
        if term is None or term != self._term:
            self._state = None  # another instance may have changed it: read it again
        self._term = term
        return term

    async def _ready(self, term: Term | None) -> None:
        await self.journal.flush()
        if self._state is None:
            await asyncio.to_thread(self._prepare)
            self._state = await asyncio.to_thread(self.journal.store.load)
            await self._resume(term)

    def _skip_reason(self, now: datetime) -> str | None:
        if not self.settings.daemon.enabled:
            return "disabled"
        if self.settings.daemon.dry_run:
            return "dry-run"
        if self.state.paused(now):
            return "paused"
        return None

    async def _check(self, trigger: str, term: Term | None) -> tuple[CheckResult, bool]:
        """The check's result, and whether it changed the cooldown times."""
        started, now = time.perf_counter(), self.clock()
        instance = self._leadership.instance if self._leadership else None

        def done(decision: Decision | None, **outcome: Any) -> CheckResult:
            ms = round((time.perf_counter() - started) * 1000, 3)
            return CheckResult(
                checked_at=now,
                trigger=trigger,
                decision=decision,
                duration_ms=ms,
                instance=instance,
                term=term.number if term else None,
                **outcome,
            )

        try:
            await self._ready(term)
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
        up = decision.action is Action.SCALE_UP
        acted = replace(
            state,
            workers=decision.target_workers,
            last_scale_up_at=now if up else state.last_scale_up_at,
            last_scale_down_at=state.last_scale_down_at if up else now,
        )
        try:
            await asyncio.to_thread(self._execute, decision.target_workers, acted, term)
        except NotLeaderError as exc:
            log.warning("not_leader", error=exc.message)
            return done(decision, skipped="not-leader"), False
        except _StepFailed as exc:
            if exc.step == "scale":
                await self._undo(acted, state, term)
            return done(decision, error=exc.error.message, failed_step=exc.step), False
        self._state = acted
        try:
            after: int | None = await asyncio.to_thread(self._platform.current_workers)
        except AutoscalerError:
            after = None
        return done(decision, executed=True, workers_after=after), True

    def _execute(self, workers: int, state: ScalerState, term: Term | None) -> None:
        """Record the action (with `state`, its cooldowns) in the transaction that checks `term`,
        then scale, unless this instance's own clock says its lease may have run out meanwhile.
        A deposed leader (`NotLeaderError`) changes nothing."""
        try:
            self.journal.store.save(state, term)
        except NotLeaderError:
            raise
        except AutoscalerError as exc:
            raise _StepFailed("record", exc) from exc
        if self._leadership is not None and self._leadership.current() != term:
            raise NotLeaderError("the lease may have expired before the platform was called")
        try:
            self._platform.scale_to(workers)
        except AutoscalerError as exc:
            raise _StepFailed("scale", exc) from exc

    async def _undo(self, acted: ScalerState, before: ScalerState, term: Term | None) -> None:
        """A failed scale call starts no cooldown: put the state back (kept as recorded, the
        cautious side, when that fails too)."""
        try:
            await asyncio.to_thread(self.journal.store.save, before, term)
        except AutoscalerError as exc:
            log.warning("cooldown_kept", error=exc.message)
            self._state = acted

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

    async def _resume(self, term: Term | None) -> None:
        """Bring a fleet the daemon supervises back to the size it last set, before deciding
        (at start, and when this instance becomes the leader); fenced like any action.

        Local workers stop with the daemon; without this, every restart would start from zero and
        count as a fresh scale-up that resets the cooldown. A dry run starts nothing.
        """
        wanted = self.state.workers
        if not self._resume_fleet or wanted is None or self.settings.daemon.dry_run:
            return
        wanted = max(self.policy.min_workers, min(self.policy.max_workers, wanted))
        if await asyncio.to_thread(self._platform.current_workers) < wanted:
            log.info("resuming_fleet", workers=wanted)
            try:
                await asyncio.to_thread(self._execute, wanted, self.state, term)
            except _StepFailed as exc:
                raise exc.error from exc

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
            leader=self._leadership.view() if self._leadership else None,
        )


def _iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t else None
