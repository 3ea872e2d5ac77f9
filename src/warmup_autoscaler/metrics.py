"""Prometheus metrics: state read from the controller's `Status` at scrape time, counters per check.

Gauges are computed from the same `Status` the status endpoint serializes, so `/metrics` and the
status endpoint always agree. Each app gets its own registry (no process-global state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from warmup_autoscaler.alerts import Severity
from warmup_autoscaler.status import CheckResult, Status

__all__ = ["Metrics"]

NS = "warmup_autoscaler"


class _StateCollector(Collector):
    def __init__(self, status: Callable[[], Status], clock: Callable[[], datetime]) -> None:
        self._status = status
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        s, now = self._status(), self._clock()
        p, fleet = s.policy, s.fleet
        decision = s.last_decision.decision if s.last_decision else None
        target = decision.target_workers if decision else None
        backlog, live = (fleet.backlog, fleet.live) if fleet else (None, None)
        pct = s.utilization_percent
        values: list[tuple[str, str, float | None]] = [
            ("mailboxes", "Active mailboxes at the last check.", s.mailbox_count),
            ("workers", "Workers after the last check.", s.current_workers),
            ("target_workers", "Target of the last decision.", target),
            ("optimal_workers", "Fewest workers below the up threshold.", s.optimal_workers),
            (
                "utilization_ratio",
                "Mailboxes over capacity (0-1+).",
                None if pct is None else pct / 100,
            ),
            ("capacity_mailboxes", "Workers x mailboxes per worker.", s.capacity),
            ("backlog_mailboxes", "Active mailboxes owned by no worker.", backlog),
            ("live_workers", "Workers heartbeating in the registry.", live),
            ("min_workers", "AUTO_SCALER_MIN_WORKERS.", p.min_workers),
            ("max_workers", "AUTO_SCALER_MAX_WORKERS.", p.max_workers),
            ("scale_up_threshold_ratio", "AUTO_SCALER_SCALE_UP_THRESHOLD.", p.scale_up_threshold),
            (
                "scale_down_threshold_ratio",
                "AUTO_SCALER_SCALE_DOWN_THRESHOLD.",
                p.scale_down_threshold,
            ),
            ("enabled", "1 when decisions are executed (AUTO_SCALER_ENABLED).", float(s.enabled)),
            ("dry_run", "1 in dry-run mode.", float(s.dry_run)),
            ("paused", "1 while paused through the API.", float(s.paused(now))),
            (
                "leader",
                "1 while this instance leads; 0 on a standby or a dry-run shadow.",
                None if s.leader is None else float(s.leader.role == "leader"),
            ),
        ]
        for name, doc, value in values:
            if value is not None:
                yield GaugeMetricFamily(f"{NS}_{name}", doc, value=float(value))
        cooldown = GaugeMetricFamily(
            f"{NS}_cooldown_remaining_seconds",
            "Seconds until a scale in this direction may happen.",
            labels=["direction"],
        )
        cooldown.add_metric(["up"], s.scale_up_cooldown_left(now).total_seconds())
        cooldown.add_metric(["down"], s.scale_down_cooldown_left(now).total_seconds())
        yield cooldown
        firing = GaugeMetricFamily(
            f"{NS}_alerts_firing", "Alerts firing now, by severity.", labels=["severity"]
        )
        for severity in (Severity.CRITICAL, Severity.WARNING, Severity.INFO):
            count = sum(1 for a in s.alerts if a.severity is severity)
            firing.add_metric([severity.value], count)
        yield firing


class Metrics:
    def __init__(self, status: Callable[[], Status], clock: Callable[[], datetime]) -> None:
        self.registry = CollectorRegistry()
        self.checks = Counter(
            f"{NS}_checks",
            "Checks by decided action (error: no decision).",
            ["action"],
            registry=self.registry,
        )
        self.executed = Counter(
            f"{NS}_scale_actions",
            "Scaling actions executed, by action.",
            ["action"],
            registry=self.registry,
        )
        self.failures = Counter(
            f"{NS}_check_failures",
            "Failed checks by step (count, platform, record, scale, prepare).",
            ["step"],
            registry=self.registry,
        )
        self.duration = Histogram(
            f"{NS}_check_duration_seconds",
            "Duration of one check.",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        for action in ("scale-up", "scale-down", "no-change", "error"):
            self.checks.labels(action)
        for step in ("count", "platform", "record", "scale", "prepare"):
            self.failures.labels(step)
        self.registry.register(_StateCollector(status, clock))

    def observe(self, result: CheckResult) -> None:
        action = result.decision.action.value if result.decision else "error"
        self.checks.labels(action).inc()
        if result.executed:
            self.executed.labels(action).inc()
        if result.failed_step:
            self.failures.labels(result.failed_step).inc()
        self.duration.observe(result.duration_ms / 1000)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
