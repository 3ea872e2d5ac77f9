"""Alerts: rules fed by each check's outcome (`rules`), their growth projection (`growth`), and
where their events go (`sinks`: the log, a webhook). `Alerting` is what the daemon wires up:
the controller reports each check to it like to any other observer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from warmup_autoscaler.alerts.growth import Projection, Sample
from warmup_autoscaler.alerts.rules import (
    SEVERITY,
    AlertConfig,
    AlertEngine,
    AlertEvent,
    AlertStatus,
    CheckObservation,
    FiringAlert,
    Severity,
    alert_config,
    iso,
)
from warmup_autoscaler.alerts.sinks import AlertDispatcher, build_dispatcher
from warmup_autoscaler.config import AlertSettings
from warmup_autoscaler.policy import PolicyConfig

if TYPE_CHECKING:
    from warmup_autoscaler.status import CheckResult

__all__ = [
    "SEVERITY",
    "AlertConfig",
    "AlertEngine",
    "AlertEvent",
    "AlertStatus",
    "Alerting",
    "CheckObservation",
    "FiringAlert",
    "Severity",
    "alert_config",
    "iso",
]


class Alerting:
    """The alert engine and its dispatcher; `observe` takes each check, `close` stops the webhook."""

    def __init__(
        self,
        config: AlertConfig,
        *,
        policy: PolicyConfig,
        dispatcher: AlertDispatcher | None = None,
    ) -> None:
        self.engine = AlertEngine(config, policy=policy)
        self.dispatcher = dispatcher or build_dispatcher(config)

    @classmethod
    def from_settings(cls, settings: AlertSettings, policy: PolicyConfig) -> Alerting:
        return cls(alert_config(settings), policy=policy)

    @property
    def config(self) -> AlertConfig:
        return self.engine.config

    @property
    def projection(self) -> Projection | None:
        """The last growth projection (None until there is enough history)."""
        return self.engine.projection

    def observe(self, result: CheckResult) -> None:
        """Evaluate the rules on one check and send the events they produce."""
        step, error = result.failed_step, result.error
        observation = CheckObservation(
            decision=result.decision,
            executed=result.executed,
            count_error=error if step == "count" else None,
            platform_error=error if step in ("platform", "scale") else None,
        )
        self.dispatcher.dispatch(self.engine.evaluate(observation, result.checked_at))

    def firing(self) -> tuple[FiringAlert, ...]:
        """Alerts firing now, most severe first."""
        return tuple(self.engine.firing())

    def preload(self, samples: Sequence[Sample]) -> None:
        self.engine.preload(samples)

    def close(self, timeout_s: float = 5.0) -> None:
        self.dispatcher.close(timeout_s)
