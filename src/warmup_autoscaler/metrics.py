"""Prometheus metrics: state read from the controller at scrape time, counters fed per check.

Gauges are computed from `Controller.status()` when scraped, so `/metrics` and the status endpoint
always agree. Each app gets its own registry (no process-global state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from warmup_autoscaler.controller import CheckResult, Controller

__all__ = ["Metrics"]

NS = "warmup_autoscaler"


class _StateCollector(Collector):
    def __init__(self, status: Callable[[], dict[str, Any]], alerts: Callable[[], list[Any]]):
        self._status = status
        self._alerts = alerts

    def collect(self) -> Iterator[Metric]:
        s = self._status()
        decision = s.get("lastDecision") or {}
        fleet = s.get("fleet") or {}
        pct = s.get("utilizationPercent")
        workers = s.get("currentWorkers")
        per = s["config"]["mailboxesPerWorker"]
        values: list[tuple[str, str, float | None]] = [
            ("mailboxes", "Active mailboxes at the last check.", s.get("mailboxCount")),
            ("workers", "Workers after the last check.", workers),
            ("target_workers", "Target of the last decision.", decision.get("targetWorkers")),
            ("optimal_workers", "Fewest workers below the up threshold.", s.get("optimalWorkers")),
            (
                "utilization_ratio",
                "Mailboxes over capacity (0-1+).",
                None if pct is None else pct / 100,
            ),
            (
                "capacity_mailboxes",
                "Workers x mailboxes per worker.",
                None if workers is None else workers * per,
            ),
            ("backlog_mailboxes", "Active mailboxes owned by no worker.", fleet.get("backlog")),
            ("live_workers", "Workers heartbeating in the registry.", fleet.get("live")),
            ("min_workers", "AUTO_SCALER_MIN_WORKERS.", s["config"]["minWorkers"]),
            ("max_workers", "AUTO_SCALER_MAX_WORKERS.", s["config"]["maxWorkers"]),
            (
                "scale_up_threshold_ratio",
                "AUTO_SCALER_SCALE_UP_THRESHOLD.",
                s["config"]["scaleUpThreshold"],
            ),
            (
                "scale_down_threshold_ratio",
                "AUTO_SCALER_SCALE_DOWN_THRESHOLD.",
                s["config"]["scaleDownThreshold"],
            ),
            (
                "enabled",
                "1 when decisions are executed (AUTO_SCALER_ENABLED).",
                float(s["enabled"]),
            ),
            ("dry_run", "1 in dry-run mode.", float(s["dryRun"])),
            ("paused", "1 while paused through the API.", float(s["paused"]["paused"])),
        ]
        for name, doc, value in values:
            if value is not None:
                yield GaugeMetricFamily(f"{NS}_{name}", doc, value=float(value))
        cooldown = GaugeMetricFamily(
            f"{NS}_cooldown_remaining_seconds",
            "Seconds until a scale in this direction may happen.",
            labels=["direction"],
        )
        cooldown.add_metric(["up"], s["cooldowns"]["scaleUpSecondsLeft"])
        cooldown.add_metric(["down"], s["cooldowns"]["scaleDownSecondsLeft"])
        yield cooldown
        firing = GaugeMetricFamily(
            f"{NS}_alerts_firing", "Alerts firing now, by severity.", labels=["severity"]
        )
        alerts = self._alerts()
        for severity in ("critical", "warning", "info"):
            firing.add_metric([severity], sum(1 for a in alerts if a.get("severity") == severity))
        yield firing


class Metrics:
    def __init__(
        self, controller: Controller, alerts: Callable[[], list[Any]] = lambda: []
    ) -> None:
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
            "Failed checks by step (count, platform, scale, prepare).",
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
        for step in ("count", "platform", "scale", "prepare"):
            self.failures.labels(step)
        self.registry.register(_StateCollector(controller.status, alerts))

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
