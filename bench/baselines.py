"""Kubernetes' HPA and KEDA's PostgreSQL scaler as rules, from their documented formulas, for the
simulation benchmark. Same inputs as our policy: the count and the fleet at each check.

HPA (kubernetes.io, "Horizontal Pod Autoscaling", algorithm details):
    desiredReplicas = ceil[currentReplicas * (currentMetricValue / desiredMetricValue)]
    no change while the ratio is within the tolerance (0.1 by default);
    scale-down stabilization: the highest recommendation of the last 300 s is used;
    default scale-up policy: at most max(100%, 4 pods) more per 15 s period; bounds min..max.
With utilization as the metric: ratio = (mailboxes / (replicas x per worker)) / target, so the
desired count is ceil(mailboxes / (per worker x target)).

KEDA's PostgreSQL scaler (keda.sh, scalers/postgresql) returns the query's value as an external
metric with an AverageValue target of `targetQueryValue`, and the HPA divides it by the replicas:
ratio = (mailboxes / replicas) / targetQueryValue, desired = ceil(mailboxes / targetQueryValue),
with the same tolerance and stabilization (KEDA polls every 30 s; our checks are the series').
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["HpaRule"]

TOLERANCE = 0.1
STABILIZATION = timedelta(seconds=300)


@dataclass
class HpaRule:
    """One HPA, for one replay: `per_replica` is the metric value one replica is meant to carry
    (per worker x target utilization for HPA; targetQueryValue for KEDA)."""

    name: str
    per_replica: float
    min_replicas: int = 1
    max_replicas: int = 100
    _recommendations: deque[tuple[datetime, int]] = field(default_factory=deque)

    def decide(self, mailboxes: int, replicas: int, now: datetime) -> int:
        if replicas == 0:
            desired = math.ceil(mailboxes / self.per_replica)
        else:
            ratio = (mailboxes / replicas) / self.per_replica
            desired = replicas if abs(ratio - 1) <= TOLERANCE else math.ceil(replicas * ratio)
        desired = max(self.min_replicas, min(self.max_replicas, desired))
        self._recommendations.append((now, desired))
        while self._recommendations[0][0] < now - STABILIZATION:
            self._recommendations.popleft()
        if desired < replicas:
            desired = min(replicas, max(r for _, r in self._recommendations))
        elif desired > replicas:
            desired = min(desired, max(2 * replicas, replicas + 4))
        return desired
