"""The decision journal as the controller writes it: after the check, in order, never lost.

A check's row (and its sample, and a fresh read of the worker registry for the status) is
written in a worker thread right after the check returns; the next check, a pause, a resume or
`flush()` waits for that write first, so rows stay in order. When the database cannot be written,
up to `UNJOURNALED_LIMIT` rows wait in memory and go out with the next write that succeeds;
`error` says why meanwhile.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Protocol

from warmup_autoscaler.errors import AutoscalerError
from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.policy import Action, Decision, utilization_percent
from warmup_autoscaler.status import CheckResult
from warmup_autoscaler.store.history import SampleRecord
from warmup_autoscaler.store.leader import Term
from warmup_autoscaler.store.state import CheckRecord, ScalerState
from warmup_autoscaler.store.workers import FleetSnapshot

__all__ = [
    "UNJOURNALED_LIMIT",
    "JournalStore",
    "JournalWriter",
    "SampleSink",
    "check_record",
    "check_result",
    "log_check",
]

log = get_logger("warmup_autoscaler.journal")
check_log = get_logger("warmup_autoscaler.controller")  # where the check line always came from

UNJOURNALED_LIMIT = 1000  # checks kept in memory while the journal cannot be written


class JournalStore(Protocol):
    def load(self) -> ScalerState: ...
    def save(self, state: ScalerState, fence: Term | None = None) -> None: ...
    def record_check(self, rec: CheckRecord) -> int: ...


class SampleSink(Protocol):
    def record_sample(self, sample: SampleRecord) -> None: ...


def check_record(result: CheckResult) -> CheckRecord:
    """The journal row of a check."""
    d = result.decision
    return CheckRecord(
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
        instance=result.instance,
        term=result.term,
    )


def check_result(rec: CheckRecord) -> CheckResult:
    """A journaled check as a result again (a standby shows the leader's checks)."""
    decision = None
    if rec.action is not None:
        decision = Decision(
            action=Action(rec.action),
            current_workers=rec.current_workers or 0,
            target_workers=rec.target_workers or 0,
            reason=rec.reason or "",
            mailbox_count=rec.mailbox_count or 0,
            utilization_percent=rec.utilization_percent,
            optimal_workers=rec.optimal_workers or 0,
        )
    return CheckResult(
        checked_at=rec.checked_at,
        trigger=rec.trigger,
        decision=decision,
        duration_ms=rec.duration_ms or 0.0,
        executed=rec.executed,
        error=rec.error,
        skipped=rec.skipped,
        instance=rec.instance,
        term=rec.term,
    )


def log_check(result: CheckResult) -> None:
    """The check's log line: one per check, an error line when it failed."""
    fields: dict[str, object] = {
        "trigger": result.trigger,
        "executed": result.executed,
        "durationMs": result.duration_ms,
    }
    if result.skipped:
        fields["skipped"] = result.skipped
    if result.instance is not None:
        fields.update(instance=result.instance, term=result.term)
    if result.decision is not None:
        fields.update(result.decision.to_dict())
    if result.error is not None:
        check_log.error("check", error=result.error, **fields)
    else:
        check_log.info("check", **fields)


class JournalWriter:
    """Writes checks and samples in the background, one write at a time (the controller stores
    the cooldowns itself, with the action they belong to).

    `on_change` is called (on the event loop) when what the status shows changed: the fleet was
    read again, or the journal's error appeared or cleared.
    """

    def __init__(
        self,
        store: JournalStore,
        *,
        mailboxes_per_worker: int,
        history: SampleSink | None = None,
        fleet: Callable[[], FleetSnapshot] | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self._per_worker = mailboxes_per_worker
        self._history = history
        self._read_fleet = fleet
        self._on_change = on_change
        self._unjournaled: deque[CheckRecord] = deque(maxlen=UNJOURNALED_LIMIT)
        self._unsampled: deque[CheckResult] = deque(maxlen=UNJOURNALED_LIMIT)
        self._writing: asyncio.Task[None] | None = None
        self.error: str | None = None  # why the last write failed, if it did
        self.fleet: FleetSnapshot | None = None  # the worker registry as of the last write

    def add(self, result: CheckResult) -> None:
        """Queue the check and start writing."""
        self._unjournaled.append(check_record(result))
        if self._history is not None and result.decision is not None:
            self._unsampled.append(result)
        self._writing = asyncio.create_task(self._write_async())

    async def flush(self) -> None:
        """Wait until every queued check is written (or kept in memory after a failure)."""
        writing, self._writing = self._writing, None
        if writing is not None:
            await writing

    async def _write_async(self) -> None:
        error = await asyncio.to_thread(self._write)
        changed = self._read_fleet is not None or error != self.error
        self.error = error
        if changed:
            self._on_change()

    def _write(self) -> str | None:
        """Read the fleet, write samples, then every queued check; the error."""
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
            while self._unjournaled:
                self.store.record_check(self._unjournaled[0])
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
        per = self._per_worker
        return SampleRecord(
            sampled_at=result.checked_at,
            mailboxes=mailboxes,
            workers=workers,
            capacity=None if workers is None else workers * per,
            utilization_percent=(
                None if workers is None else utilization_percent(mailboxes, workers, per)
            ),
            backlog=self.fleet.backlog if self.fleet else None,
        )
