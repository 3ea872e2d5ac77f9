"""One check = count, decide, execute, record. Checks never overlap.

The controller owns the daemon's view of the world (last decision, cooldown times, last error), so
the status API answers from memory. It takes narrow capabilities, not whole subsystems: something
that counts, a platform, and a journal.

A check's states:

    prepare (migrate, load cooldowns) -> count -> read workers -> decide -> execute? -> journal
        any step failing ends the check with `error` set; nothing is scaled after a failure,
        so a failed count can never remove a worker.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from warmup_autoscaler.alert_sinks import build_dispatcher
from warmup_autoscaler.alerts import AlertEngine, CheckObservation, alert_config_from_settings
from warmup_autoscaler.config import Settings
from warmup_autoscaler.errors import AutoscalerError
from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.platforms.base import Platform
from warmup_autoscaler.policy import (
    Action,
    Decision,
    PolicyConfig,
    can_scale_down,
    can_scale_up,
    cooldown_left,
    decide,
    utilization,
)
from warmup_autoscaler.store.history import SampleRecord
from warmup_autoscaler.store.state import CheckRecord, ScalerState

__all__ = ["CheckResult", "Controller", "policy_config", "utc_now"]

log = get_logger("warmup_autoscaler.controller")

UNJOURNALED_LIMIT = 1000  # checks kept in memory while the journal cannot be written


SKIP_TEXT = {
    "disabled": "AUTO_SCALER_ENABLED=false",
    "dry-run": "dry run, AUTO_SCALER_DRY_RUN=true",
    "paused": "paused",
}


class SampleSink(Protocol):
    def record_sample(self, sample: SampleRecord) -> None: ...


class Counter(Protocol):
    def count(self) -> int: ...


class Journal(Protocol):
    def load(self) -> ScalerState: ...
    def save(self, state: ScalerState) -> None: ...
    def record_check(self, rec: CheckRecord) -> int: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


def policy_config(settings: Settings) -> PolicyConfig:
    return PolicyConfig(
        mailboxes_per_worker=settings.mailboxes_per_worker,
        min_workers=settings.min_workers,
        max_workers=settings.max_workers,
        scale_up_threshold=settings.scale_up_threshold,
        scale_down_threshold=settings.scale_down_threshold,
        scale_up_cooldown=timedelta(milliseconds=settings.scale_up_cooldown_ms),
        scale_down_cooldown=timedelta(milliseconds=settings.scale_down_cooldown_ms),
        mode=settings.scaling_mode,
        max_step=settings.max_step,
    )


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    checked_at: datetime
    trigger: str
    decision: Decision | None
    executed: bool
    error: str | None
    duration_ms: float
    workers_after: int | None = None  # the platform's count read again after an executed action
    skipped: str | None = None  # why an action was not executed: disabled | dry-run | paused
    failed_step: str | None = None  # where it failed: prepare | count | platform | scale

    @property
    def workers(self) -> int | None:
        """The fleet size this check left behind, as best known."""
        if self.decision is None:
            return None
        if self.workers_after is not None:
            return self.workers_after
        return self.decision.target_workers if self.executed else self.decision.current_workers

    @property
    def success(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str:
        if self.decision is None:
            return f"Scaling check failed: {self.error}"
        text = f"Scaling check complete: {self.decision.action.value}"
        if self.skipped:
            text += f" (not executed: {SKIP_TEXT[self.skipped]})"
        if self.error:
            text += f" (failed: {self.error})"
        return text


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
        journal: Journal,
        prepare: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utc_now,
        resume_fleet: bool = False,
        history: SampleSink | None = None,
        fleet: Callable[[], dict[str, Any] | None] | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy_config(settings)
        self._counter = counter
        self._platform = platform
        self._journal = journal
        self._prepare = prepare
        self._resume_fleet = resume_fleet
        self._history = history
        self._read_fleet = fleet
        self.fleet: dict[str, Any] | None = None  # the worker registry as of the last check
        self.observers: list[Callable[[CheckResult], None]] = []  # e.g. metrics
        self.alerts = AlertEngine(alert_config_from_settings(settings), policy=self.policy)
        self.alert_dispatcher = build_dispatcher(self.alerts.config)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._state: ScalerState | None = None
        self._state_dirty = False
        self._unjournaled: deque[CheckRecord] = deque(maxlen=UNJOURNALED_LIMIT)
        self._unsampled: deque[CheckResult] = deque(maxlen=UNJOURNALED_LIMIT)
        self._writing: asyncio.Task[None] | None = None  # the last check's journal write
        self._journal_error: str | None = None  # why the last journal write failed, if it did
        self.last: CheckResult | None = None
        self.last_decision: CheckResult | None = None  # the last check that reached a decision
        self.version = 0  # bumped whenever what status() reports changes, other than the clock

    @property
    def last_error(self) -> str | None:
        """Why the last check failed, else why the journal cannot be written, else None."""
        return (self.last.error if self.last else None) or self._journal_error

    @property
    def state(self) -> ScalerState:
        return self._state or ScalerState(last_scale_up_at=None, last_scale_down_at=None)

    async def check(self, trigger: str = "interval", *, wait_journal: bool = True) -> CheckResult:
        """Run one check; a check already running is waited for first (checks never overlap).

        The result is published (state, status, log line, alerts, observers) as soon as it is
        known, then journaled. With `wait_journal=False` (the daemon's loop) the journal row is
        written after `check` returns, in order: the next check, pause, resume or `flush()` waits
        for it first. A check that changed the cooldown times always waits for its write, so a
        restart right after a scaling action still keeps the cooldown.
        """
        async with self._lock:
            await self.flush()
            result = await self._check(trigger)
            self._queue_record(result)
            self._publish(result)
            self._writing = asyncio.create_task(self._write_journal())
            if wait_journal or self._state_dirty:
                await self.flush()
            return result

    async def flush(self) -> None:
        """Wait until every finished check is in the journal (or kept in memory after a failure)."""
        writing, self._writing = self._writing, None
        if writing is not None:
            await writing

    def _publish(self, result: CheckResult) -> None:
        self.last = result
        if result.decision is not None:
            self.last_decision = result
        self._log(result)
        self._alert(result)
        self.version += 1
        for observe in self.observers:
            try:
                observe(result)
            except Exception:  # an observer must never break the loop
                log.exception("observer_failed", observer=repr(observe))

    async def _write_journal(self) -> None:
        error = await asyncio.to_thread(self._write)
        if self._read_fleet is not None:
            self.version += 1  # the fleet was read again
        if error != self._journal_error:
            self._journal_error = error
            self.version += 1

    def _alert(self, result: CheckResult) -> None:
        step, error = result.failed_step, result.error
        observation = CheckObservation(
            decision=result.decision,
            executed=result.executed,
            count_error=error if step == "count" else None,
            platform_error=error if step in ("platform", "scale") else None,
        )
        self.alert_dispatcher.dispatch(self.alerts.evaluate(observation, result.checked_at))

    def firing_alerts(self) -> list[dict[str, Any]]:
        return [a.to_dict() for a in self.alerts.firing()]

    async def pause(self, *, minutes: float | None, reason: str | None) -> ScalerState:
        """Stop executing decisions (until resumed, or for `minutes`); checks and journal go on."""
        async with self._lock:
            await self.flush()
            await self._ensure_state()
            now = self._clock()
            until = now + timedelta(minutes=minutes) if minutes else None
            self._state = replace(
                self.state, paused_at=now, paused_until=until, pause_reason=reason
            )
            await asyncio.to_thread(self._journal.save, self._state)
            self.version += 1
            log.warning("paused", until=_iso(until), reason=reason)
            return self._state

    async def resume(self) -> ScalerState:
        async with self._lock:
            await self.flush()
            await self._ensure_state()
            self._state = replace(self.state, paused_at=None, paused_until=None, pause_reason=None)
            await asyncio.to_thread(self._journal.save, self._state)
            self.version += 1
            log.warning("resumed")
            return self._state

    async def _ensure_state(self) -> None:
        if self._state is None:
            await asyncio.to_thread(self._prepare)
            self._state = await asyncio.to_thread(self._journal.load)
            await self._resume()

    def _skip_reason(self, now: datetime) -> str | None:
        if not self.settings.enabled:
            return "disabled"
        if self.settings.dry_run:
            return "dry-run"
        if self.state.paused(now):
            return "paused"
        return None

    async def _check(self, trigger: str) -> CheckResult:
        started, now = time.perf_counter(), self._clock()

        def done(
            decision: Decision | None,
            executed: bool,
            error: str | None,
            workers_after: int | None = None,
            skipped: str | None = None,
            failed_step: str | None = None,
        ) -> CheckResult:
            return CheckResult(
                failed_step=failed_step,
                workers_after=workers_after,
                skipped=skipped,
                checked_at=now,
                trigger=trigger,
                decision=decision,
                executed=executed,
                error=error,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
            )

        step = "prepare"
        try:
            await self._ensure_state()
            mailboxes, workers = await asyncio.to_thread(self._observe)
        except _StepFailed as exc:
            return done(None, False, exc.error.message, failed_step=exc.step)
        except AutoscalerError as exc:
            return done(None, False, exc.message, failed_step=step)
        state = self.state
        decision = decide(
            mailboxes=mailboxes,
            workers=workers,
            cfg=self.policy,
            last_scale_up=state.last_scale_up_at,
            last_scale_down=state.last_scale_down_at,
            now=now,
        )
        if decision.action is Action.NO_CHANGE:
            return done(decision, False, None)
        skipped = self._skip_reason(now)
        if skipped:
            return done(decision, False, None, skipped=skipped)
        try:
            await asyncio.to_thread(self._platform.scale_to, decision.target_workers)
        except AutoscalerError as exc:
            return done(decision, False, exc.message, failed_step="scale")
        target = decision.target_workers
        if decision.action is Action.SCALE_UP:
            self._state = replace(state, last_scale_up_at=now, workers=target)
        else:
            self._state = replace(state, last_scale_down_at=now, workers=target)
        self._state_dirty = True
        try:
            after: int | None = await asyncio.to_thread(self._platform.current_workers)
        except AutoscalerError:
            after = None
        return done(decision, True, None, after)

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

    def _queue_record(self, result: CheckResult) -> None:
        """Put the check in the queue of rows to journal (and its sample in the history's)."""
        d = result.decision
        self._unjournaled.append(
            CheckRecord(
                checked_at=result.checked_at,
                trigger=result.trigger,
                mailbox_count=d.mailbox_count if d else None,
                current_workers=d.current_workers if d else None,
                target_workers=d.target_workers if d else None,
                optimal_workers=d.optimal_workers if d else None,
                action=d.action.value if d else None,
                reason=d.reason if d else None,
                utilization_percent=d.utilization_percent if d else None,
                executed=result.executed,
                error=result.error,
                duration_ms=result.duration_ms,
                skipped=result.skipped,
            )
        )
        if self._history is not None and d is not None:
            self._unsampled.append(result)

    def _write(self) -> str | None:
        """Persist changed cooldowns, then journal every queued check; the error, if one failed.

        Runs in a worker thread, one write at a time (the next check awaits it). The worker
        registry is read here too, after the decision it plays no part in: for the status and
        the sample's backlog.
        """
        if self._read_fleet is not None:
            try:
                self.fleet = self._read_fleet()
            except AutoscalerError as exc:
                log.warning("fleet_unreadable", error=exc.message)
        while self._unsampled:
            sample = self._sample(self._unsampled.popleft())
            try:
                self._history.record_sample(sample)  # type: ignore[union-attr]
            except AutoscalerError as exc:
                log.warning("sample_failed", error=exc.message)
        try:
            if self._state_dirty and self._state is not None:
                self._journal.save(self._state)
                self._state_dirty = False
            while self._unjournaled:
                self._journal.record_check(self._unjournaled[0])
                self._unjournaled.popleft()
        except AutoscalerError as exc:
            log.warning("journal_failed", error=exc.message, pending=len(self._unjournaled))
            return (
                f"could not write the journal ({len(self._unjournaled)} checks kept "
                f"in memory until it can): {exc.message}"
            )
        return None

    def _sample(self, result: CheckResult) -> SampleRecord:
        assert result.decision is not None
        workers, mailboxes = result.workers, result.decision.mailbox_count
        per = self.settings.mailboxes_per_worker
        backlog = self.fleet.get("backlog") if self.fleet else None
        return SampleRecord(
            sampled_at=result.checked_at,
            mailboxes=mailboxes,
            workers=workers,
            capacity=None if workers is None else workers * per,
            utilization_percent=_pct(mailboxes, workers, per),
            backlog=backlog,
        )

    def _log(self, result: CheckResult) -> None:
        fields: dict[str, Any] = {
            "trigger": result.trigger,
            "executed": result.executed,
            "durationMs": result.duration_ms,
        }
        if result.skipped:
            fields["skipped"] = result.skipped
        if result.decision is not None:
            fields.update(result.decision.to_dict())
        if result.error is not None:
            log.error("check", error=result.error, **fields)
        else:
            log.info("check", **fields)

    def status(self) -> dict[str, Any]:
        """The seed's status shape, answered from memory."""
        s, now, state = self.settings, self._clock(), self.state
        last = self.last_decision
        decision = last.decision if last else None
        workers = last.workers if last else None
        mailboxes = decision.mailbox_count if decision else None
        pct = _pct(mailboxes, workers, s.mailboxes_per_worker)
        last_action = max(
            (t for t in (state.last_scale_up_at, state.last_scale_down_at) if t), default=None
        )
        return {
            "enabled": s.enabled,
            "currentWorkers": workers,
            "mailboxCount": mailboxes,
            "utilizationPercent": pct,
            "optimalWorkers": decision.optimal_workers if decision else None,
            "canScaleUp": workers is not None
            and can_scale_up(workers, self.policy, state.last_scale_up_at, now),
            "canScaleDown": workers is not None
            and can_scale_down(
                workers, self.policy, state.last_scale_up_at, state.last_scale_down_at, now
            ),
            "config": {
                "enabled": s.enabled,
                "checkIntervalMs": s.check_interval_ms,
                "mailboxesPerWorker": s.mailboxes_per_worker,
                "minWorkers": s.min_workers,
                "maxWorkers": s.max_workers,
                "scaleUpThreshold": s.scale_up_threshold,
                "scaleDownThreshold": s.scale_down_threshold,
                "platform": s.platform,
                "scaleUpCooldownMs": s.scale_up_cooldown_ms,
                "scaleDownCooldownMs": s.scale_down_cooldown_ms,
                "scalingMode": s.scaling_mode,
                "maxStep": s.max_step,
            },
            "cooldowns": {
                "scaleUpSecondsLeft": cooldown_left(
                    state.last_scale_up_at, self.policy.scale_up_cooldown, now
                ).total_seconds(),
                "scaleDownSecondsLeft": cooldown_left(
                    last_action, self.policy.scale_down_cooldown, now
                ).total_seconds(),
            },
            "lastScaleUpAt": _iso(state.last_scale_up_at),
            "lastScaleDownAt": _iso(state.last_scale_down_at),
            "lastCheckAt": _iso(self.last.checked_at if self.last else None),
            "lastDecision": decision_dict(last),
            "lastError": self.last_error,
            "paused": {
                "paused": state.paused(now),
                "until": _iso(state.paused_until) if state.paused(now) else None,
                "reason": state.pause_reason if state.paused(now) else None,
            },
            "dryRun": s.dry_run,
            "fleet": self.fleet,
            "alerts": self.firing_alerts(),
        }


def _pct(mailboxes: int | None, workers: int | None, per_worker: int) -> float | None:
    if mailboxes is None or workers is None:
        return None
    u = utilization(mailboxes, workers, per_worker)
    return None if u == float("inf") else round(u * 100, 1)


def _iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t else None


def decision_dict(result: CheckResult | None) -> dict[str, Any] | None:
    if result is None or result.decision is None:
        return None
    return {
        **result.decision.to_dict(),
        "executed": result.executed,
        "checkedAt": _iso(result.checked_at),
        "trigger": result.trigger,
        "skipped": result.skipped,
    }
