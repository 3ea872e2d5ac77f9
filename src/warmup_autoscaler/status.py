"""What one check did (`CheckResult`) and what the auto-scaler knows after it (`Status`).

`Status` is built once per check (and on pause, resume and each journal write) and read by the
API, `/metrics`, the CLI and the dashboard; it is JSON only at the edges (`warmup_autoscaler.wire`).
Facts that depend on the time of reading (cooldowns left, whether a pause is over) are methods
taking `now`, so a status read later is still right.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from warmup_autoscaler.alerts.rules import FiringAlert
from warmup_autoscaler.config import DaemonSettings
from warmup_autoscaler.policy import (
    Decision,
    PolicyConfig,
    can_scale_down,
    can_scale_up,
    cooldown_left,
    utilization_percent,
)
from warmup_autoscaler.store.state import ScalerState
from warmup_autoscaler.store.workers import FleetSnapshot

__all__ = ["SKIP_TEXT", "CheckResult", "LeaderView", "Status"]

SKIP_TEXT = {
    "disabled": f"{DaemonSettings.env_name('enabled')}=false",
    "dry-run": f"dry run, {DaemonSettings.env_name('dry_run')}=true",
    "paused": "paused",
    "not-leader": "this instance lost the leadership before scaling",
}


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    checked_at: datetime
    trigger: str  # startup | interval | api | change | elected
    decision: Decision | None
    duration_ms: float
    executed: bool = False
    error: str | None = None
    workers_after: int | None = None  # the platform's count read again after an executed action
    skipped: str | None = None  # why not executed: disabled | dry-run | paused | not-leader
    failed_step: str | None = None  # where it failed: prepare | count | platform | record | scale
    instance: str | None = None  # the auto-scaler instance that ran the check
    term: int | None = None  # its leadership term; None when not elected (a dry-run shadow)

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


@dataclass(frozen=True, kw_only=True)
class LeaderView:
    """Who leads, as this instance last saw the lease (the lease's times on this host's clock)."""

    role: str  # leader | standby | shadow (a dry-run instance, which takes no part)
    instance: str  # this instance
    term: int | None = None  # the lease's current term (this instance's while it leads)
    leader_instance: str | None = None  # who holds the lease; None when nobody (or not read yet)
    lease_expires_at: datetime | None = None  # when the lease ends unless renewed
    error: str | None = None  # why the last election round failed, if it did

    def lease_expires_in_ms(self, now: datetime) -> int | None:
        if self.lease_expires_at is None:
            return None
        return max(0, round((self.lease_expires_at - now).total_seconds() * 1000))


@dataclass(frozen=True, kw_only=True)
class Status:
    """The auto-scaler's state as of its last check."""

    enabled: bool
    dry_run: bool
    platform: str
    check_interval_ms: int
    policy: PolicyConfig
    state: ScalerState  # cooldown times and pause, as saved
    last_check: CheckResult | None = None
    last_decision: CheckResult | None = None  # the last check that reached a decision
    last_error: str | None = None  # the last check's error, else the journal's
    fleet: FleetSnapshot | None = None  # the worker registry as of the last check
    alerts: tuple[FiringAlert, ...] = ()
    leader: LeaderView | None = None  # None when this instance runs without an election

    @property
    def current_workers(self) -> int | None:
        return self.last_decision.workers if self.last_decision else None

    @property
    def mailbox_count(self) -> int | None:
        d = self.last_decision.decision if self.last_decision else None
        return d.mailbox_count if d else None

    @property
    def optimal_workers(self) -> int | None:
        d = self.last_decision.decision if self.last_decision else None
        return d.optimal_workers if d else None

    @property
    def capacity(self) -> int | None:
        """Mailboxes the current workers can take: workers x mailboxes per worker."""
        workers = self.current_workers
        return None if workers is None else workers * self.policy.mailboxes_per_worker

    @property
    def utilization_percent(self) -> float | None:
        """Mailboxes over capacity, in percent; None when unknown or when there is no capacity."""
        mailboxes, workers = self.mailbox_count, self.current_workers
        if mailboxes is None or workers is None:
            return None
        return utilization_percent(mailboxes, workers, self.policy.mailboxes_per_worker)

    def can_scale_up(self, now: datetime) -> bool:
        workers = self.current_workers
        return workers is not None and can_scale_up(
            workers, self.policy, self.state.last_scale_up_at, now
        )

    def can_scale_down(self, now: datetime) -> bool:
        workers, s = self.current_workers, self.state
        return workers is not None and can_scale_down(
            workers, self.policy, s.last_scale_up_at, s.last_scale_down_at, now
        )

    def scale_up_cooldown_left(self, now: datetime) -> timedelta:
        return cooldown_left(self.state.last_scale_up_at, self.policy.scale_up_cooldown, now)

    def scale_down_cooldown_left(self, now: datetime) -> timedelta:
        s = self.state
        last = max((t for t in (s.last_scale_up_at, s.last_scale_down_at) if t), default=None)
        return cooldown_left(last, self.policy.scale_down_cooldown, now)

    def paused(self, now: datetime) -> bool:
        return self.state.paused(now)
