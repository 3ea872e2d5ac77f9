"""Alert rules and their deduplication. Pure: the controller passes each check's outcome and `now`.

Each alert but `scaling_action` is a small state machine, so a condition that lasts is announced
once, reminded every `repeat`, and closed with a message:

    quiet  --condition holds-------------------------------> firing   emits `fired`
    firing --still holds, `repeat` since it was last sent--> firing   emits `repeated`
    firing --condition clears------------------------------> quiet    emits `resolved`

A rule that learns nothing from a check (no decision after a failed count; too little history for
a growth trend) leaves its alert as it was. `scaling_action` has no state: when enabled it emits one
`fired` per executed action, never repeated or resolved, and it never shows in `firing()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from warmup_autoscaler.alerts.growth import (
    Projection,
    Sample,
    SampleWindow,
    capacity_at_max,
    project,
)
from warmup_autoscaler.config import AlertSettings, DaemonSettings, DatabaseSettings, PolicySettings
from warmup_autoscaler.policy import Action, Decision, PolicyConfig, utilization

__all__ = [
    "SEVERITY",
    "AlertConfig",
    "AlertEngine",
    "AlertEvent",
    "AlertStatus",
    "CheckObservation",
    "FiringAlert",
    "Severity",
    "alert_config",
    "iso",
]


MAX_VAR = PolicySettings.env_name("max_workers")
QUERY_VAR = DatabaseSettings.env_name("mailbox_query")
PLATFORM_VAR = DaemonSettings.env_name("platform")


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertStatus(StrEnum):
    FIRED = "fired"
    REPEATED = "repeated"
    RESOLVED = "resolved"


# A failed count leaves the fleet as it is (never a scale-down); a failed platform means decisions
# are not carried out, so the fleet may fall behind demand: that one is critical.
SEVERITY: dict[str, Severity] = {
    "capacity_limit": Severity.CRITICAL,
    "platform_failures": Severity.CRITICAL,
    "count_failures": Severity.WARNING,
    "capacity_horizon": Severity.WARNING,
    "scaling_action": Severity.INFO,
    "mailboxes_paused": Severity.WARNING,
}


@dataclass(frozen=True, kw_only=True)
class AlertConfig:
    repeat: timedelta = timedelta(hours=1)  # 0: never repeat
    failure_threshold: int = 3  # failed checks in a row
    capacity_horizon: timedelta = timedelta(days=14)  # 0: capacity_horizon off
    growth_window: timedelta = timedelta(days=7)
    on_scale: bool = False
    webhook_url: str | None = field(default=None, repr=False)  # may hold a token
    webhook_timeout: timedelta = timedelta(seconds=5)


def alert_config(settings: AlertSettings) -> AlertConfig:
    """The engine's configuration from the `AUTO_SCALER_ALERT_*` settings."""
    url = settings.webhook_url.get_secret_value() if settings.webhook_url else None
    return AlertConfig(
        repeat=timedelta(milliseconds=settings.repeat_ms),
        failure_threshold=settings.failure_threshold,
        capacity_horizon=timedelta(days=settings.capacity_horizon_days),
        growth_window=timedelta(days=settings.growth_window_days),
        on_scale=settings.on_scale,
        webhook_url=url or None,
        webhook_timeout=timedelta(milliseconds=settings.webhook_timeout_ms),
    )


@dataclass(frozen=True, kw_only=True)
class CheckObservation:
    """What one check did. At most one error: the count runs first, the platform after it.

    `count_error`: counting failed (the platform was not reached). `platform_error`: reading or
    setting the worker count failed (the count had worked). Neither, with a decision: both worked.
    """

    decision: Decision | None = None
    executed: bool = False
    count_error: str | None = None
    platform_error: str | None = None

    def __post_init__(self) -> None:
        if self.count_error is not None and self.platform_error is not None:
            raise ValueError("a check fails at the count or at the platform, not both")


@dataclass(frozen=True, kw_only=True)
class AlertEvent:
    name: str
    status: AlertStatus
    severity: Severity
    message: str
    since: datetime  # when the alert started firing
    at: datetime  # when this event happened
    details: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class FiringAlert:
    name: str
    severity: Severity
    message: str
    since: datetime
    last_sent_at: datetime
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert": self.name,
            "name": self.name,
            "severity": self.severity.value,
            "message": self.message,
            "since": iso(self.since),
            "lastSentAt": iso(self.last_sent_at),
            "details": self.details,
        }


def iso(t: datetime) -> str:
    """ISO 8601 with `Z` for UTC, as the status API writes times."""
    return t.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class _Verdict:
    firing: bool
    message: str
    details: dict[str, Any]


def _checks(n: int) -> str:
    return f"{n} check" if n == 1 else f"{n} checks"


def _pct(u: float) -> str:
    return "no capacity" if u == float("inf") else f"{u * 100:.1f}%"


class AlertEngine:
    """Turns each check's outcome into alert events; `firing()` is what is firing now."""

    def __init__(self, config: AlertConfig, *, policy: PolicyConfig) -> None:
        self.config = config
        self.policy = policy
        self.projection: Projection | None = None  # the last growth projection, for the API
        self._samples = SampleWindow(config.growth_window)
        self._firing: dict[str, FiringAlert] = {}
        self._streaks = {"count_failures": 0, "platform_failures": 0}  # failed checks in a row

    def preload(self, samples: Sequence[Sample]) -> None:
        """Seed the growth window with older counts (e.g. the journal's) before the first check."""
        self._samples.extend(samples)

    def firing(self) -> list[FiringAlert]:
        """Alerts firing now, most severe first, then oldest first."""
        rank = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}
        return sorted(self._firing.values(), key=lambda a: (rank[a.severity], a.since, a.name))

    def evaluate(self, obs: CheckObservation, now: datetime) -> list[AlertEvent]:
        """Update every alert with one check's outcome; the events to send, in a stable order."""
        d = obs.decision
        if d is not None:
            self._samples.add(now, d.mailbox_count)
        verdicts = {
            "capacity_limit": self._capacity_limit(d, obs.executed),
            "capacity_horizon": self._capacity_horizon(now),
            "count_failures": self._failures("count_failures", obs.count_error, obs),
            "platform_failures": self._failures("platform_failures", obs.platform_error, obs),
        }
        events = [e for name, v in verdicts.items() if v and (e := self._step(name, v, now))]
        if self.config.on_scale and obs.executed and d and d.action is not Action.NO_CHANGE:
            way = "up" if d.action is Action.SCALE_UP else "down"
            text = (
                f"Scaled {way} from {d.current_workers} to {d.target_workers} workers: {d.reason}"
            )
            action = _Verdict(True, text, d.to_dict())
            events.append(_event("scaling_action", AlertStatus.FIRED, now, now, action))
        return events

    def evaluate_paused_mailboxes(
        self, paused: Sequence[dict[str, Any]], now: datetime
    ) -> list[AlertEvent]:
        """`mailboxes_paused`: warmup mailboxes paused by a safety stop ({mailboxId, email,
        reason}), read by the daemon at each check; resolved when none is left."""
        if paused:
            first = paused[0]
            more = f" and {len(paused) - 1} more" if len(paused) > 1 else ""
            text = (
                f"{len(paused)} warmup mailbox{'es' * (len(paused) > 1)} paused by a safety stop: "
                f"{first['email']} (id {first['mailboxId']}): {first['reason']}{more}; fix the "
                "cause, then `warmup-autoscaler mailbox resume ID`"
            )
        else:
            text = "No warmup mailbox is paused by a safety stop any more"
        details = {"count": len(paused), "mailboxes": list(paused[:50])}
        event = self._step("mailboxes_paused", _Verdict(bool(paused), text, details), now)
        return [event] if event else []

    def _step(self, name: str, v: _Verdict, now: datetime) -> AlertEvent | None:
        active = self._firing.get(name)
        if active is None:
            if not v.firing:
                return None
            self._firing[name] = FiringAlert(
                name=name,
                severity=SEVERITY[name],
                message=v.message,
                since=now,
                last_sent_at=now,
                details=v.details,
            )
            return _event(name, AlertStatus.FIRED, now, now, v)
        if not v.firing:
            del self._firing[name]
            return _event(name, AlertStatus.RESOLVED, active.since, now, v)
        repeat = self.config.repeat
        due = repeat > timedelta(0) and now - active.last_sent_at >= repeat
        self._firing[name] = replace(
            active,
            message=v.message,
            details=v.details,
            last_sent_at=now if due else active.last_sent_at,
        )
        if not due:
            return None
        return _event(name, AlertStatus.REPEATED, active.since, now, v)

    def _capacity_limit(self, d: Decision | None, executed: bool) -> _Verdict | None:
        if d is None:
            return None
        cfg = self.policy
        fleet = d.target_workers if executed else d.current_workers
        u = utilization(d.mailbox_count, fleet, cfg.mailboxes_per_worker)
        details = {
            "workers": fleet,
            "maxWorkers": cfg.max_workers,
            "mailboxCount": d.mailbox_count,
            "utilizationPercent": None if u == float("inf") else round(u * 100, 1),
            "scaleUpThreshold": cfg.scale_up_threshold,
        }
        if fleet >= cfg.max_workers and u >= cfg.scale_up_threshold:
            at_max = "(max)" if fleet == cfg.max_workers else f"(max {cfg.max_workers})"
            text = f"Capacity limit reached: {fleet} workers {at_max} at {_pct(u)} utilization"
            return _Verdict(True, f"{text}; raise {MAX_VAR} or add capacity", details)
        text = f"Capacity limit cleared: {fleet} workers (max {cfg.max_workers}) at {_pct(u)}"
        return _Verdict(False, text + " utilization", details)

    def _capacity_horizon(self, now: datetime) -> _Verdict | None:
        growth = self._samples.fit(now)
        capacity = capacity_at_max(self.policy)
        self.projection = p = None if growth is None else project(growth, capacity=capacity)
        horizon = self.config.capacity_horizon / timedelta(days=1)
        if p is None or horizon <= 0:
            return None
        cfg, rate = self.policy, f"{p.growth.per_day:+,.1f} mailboxes/day"
        details = {**p.to_dict(), "horizonDays": horizon}
        if p.days_left is None:
            text = f"Capacity horizon cleared: the mailbox count is not growing ({rate})"
            return _Verdict(False, text, details)
        if p.days_left >= horizon:
            text = (
                f"Capacity horizon cleared: at {rate} the fleet at max is full in "
                f"{p.days_left:.1f} days, beyond the {horizon:g}-day horizon"
            )
            return _Verdict(False, text, details)
        when = f"will be full in {p.days_left:.1f} days"
        if p.days_left == 0:
            when = "is already full"
        elif p.full_at is not None:
            when += f" (around {p.full_at:%Y-%m-%d %H:%M %Z})"
        text = (
            f"Capacity horizon: at {rate}, {cfg.max_workers} workers (max) {when}: "
            f"{p.capacity:,.0f} mailboxes, {cfg.scale_up_threshold * 100:g}% of "
            f"{cfg.max_workers} x {cfg.mailboxes_per_worker}; raise {MAX_VAR} "
            "before then"
        )
        return _Verdict(True, text, details)

    def _failures(self, name: str, error: str | None, obs: CheckObservation) -> _Verdict | None:
        # The count runs before the platform, so a platform error proves the count worked.
        ran = obs.decision is not None or (name == "count_failures" and bool(obs.platform_error))
        if error is None and not ran:
            return None  # this part did not run (e.g. the store failed first): nothing learned
        what = "Mailbox count" if name == "count_failures" else "Platform"
        if error is None:
            failed, self._streaks[name] = self._streaks[name], 0
            text = f"{what} works again after {failed} failed check" + "s" * (failed != 1)
            return _Verdict(False, text, {"consecutiveFailures": failed})
        self._streaks[name] += 1
        effect = (
            f"nothing is scaled until it succeeds (check DATABASE_URL and {QUERY_VAR})"
            if name == "count_failures"
            else f"the fleet cannot be scaled (check {PLATFORM_VAR} and its settings)"
        )
        n, threshold = self._streaks[name], self.config.failure_threshold
        details = {"consecutiveFailures": n, "threshold": threshold, "lastError": error}
        text = f"{what} failed {_checks(n)} in a row: {error}; {effect}"
        return _Verdict(n >= threshold, text, details)


def _event(
    name: str, status: AlertStatus, since: datetime, at: datetime, v: _Verdict
) -> AlertEvent:
    return AlertEvent(
        name=name,
        status=status,
        severity=SEVERITY[name],
        message=v.message,
        since=since,
        at=at,
        details=v.details,
    )
