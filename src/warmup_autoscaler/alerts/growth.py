"""Mailbox growth and when the fleet at its maximum size will be full. Pure: no I/O, no clock.

Growth is the least-squares slope of (time, mailbox count) samples over a window (7 days by
default), in mailboxes per day. "Full" means the utilization of the fleet at `max_workers` reaching
the scale-up threshold: from there the policy wants another worker and cannot add one, which is
exactly when the `capacity_limit` alert fires. So

    capacity = max_workers x mailboxes_per_worker x scale_up_threshold
    days_left = (capacity - fitted count now) / growth per day      (only while growing)

The fitted count (the regression line at `now`), not the last raw sample, is projected, so one noisy
count does not move the forecast. Too few samples or too short a span gives no growth at all; a
flat or shrinking count gives a growth but no projection: it is never full.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from warmup_autoscaler.policy import PolicyConfig

__all__ = [
    "MIN_SAMPLES",
    "MIN_SPAN",
    "Growth",
    "Projection",
    "Sample",
    "SampleWindow",
    "capacity_at_max",
    "fit_growth",
    "project",
]

MIN_SAMPLES = 5
MIN_SPAN = timedelta(days=1)  # shorter spans mostly measure the time of day, not growth
MAX_WINDOW_SAMPLES = 2048  # a window keeps at most this many, evenly spaced (7 d -> one per ~5 min)
_DAY_S = 86_400.0


@dataclass(frozen=True, kw_only=True)
class Sample:
    at: datetime
    mailboxes: int


@dataclass(frozen=True, kw_only=True)
class Growth:
    """A fitted trend: `level` mailboxes at `at`, changing by `per_day` per day."""

    per_day: float
    level: float
    at: datetime
    samples: int
    span: timedelta


@dataclass(frozen=True, kw_only=True)
class Projection:
    """When the fleet at max is full; `full_at` and `days_left` are None while not growing."""

    growth: Growth
    capacity: float
    full_at: datetime | None
    days_left: float | None

    def to_dict(self) -> dict[str, Any]:
        full_at = self.full_at.isoformat().replace("+00:00", "Z") if self.full_at else None
        return {
            "growthPerDay": round(self.growth.per_day, 2),
            "mailboxesNow": round(self.growth.level, 1),
            "capacityAtMax": round(self.capacity, 1),
            "fullAt": full_at,
            "daysLeft": None if self.days_left is None else round(self.days_left, 2),
            "samples": self.growth.samples,
            "spanDays": round(self.growth.span.total_seconds() / _DAY_S, 2),
        }


def capacity_at_max(cfg: PolicyConfig) -> float:
    """Mailboxes at which the fleet at `max_workers` reaches the scale-up threshold."""
    return cfg.max_workers * cfg.mailboxes_per_worker * cfg.scale_up_threshold


def fit_growth(
    samples: Iterable[Sample],
    *,
    now: datetime,
    window: timedelta,
    min_samples: int = MIN_SAMPLES,
    min_span: timedelta | None = None,
) -> Growth | None:
    """The least-squares trend of the samples in (now - window, now]; None with too little data.

    Too little is fewer than `min_samples`, or a span under `min_span` (default: MIN_SPAN, or half
    the window if that is shorter, so a one-day window can still fit).
    """
    kept = [s for s in samples if now - window < s.at <= now]
    if len(kept) < max(min_samples, 2):
        return None
    first = min(s.at for s in kept)
    span = max(s.at for s in kept) - first
    if span < (min(MIN_SPAN, window / 2) if min_span is None else min_span) or span <= timedelta(0):
        return None
    xs = [(s.at - first).total_seconds() / _DAY_S for s in kept]
    ys = [float(s.mailboxes) for s in kept]
    mean_x, mean_y = math.fsum(xs) / len(xs), math.fsum(ys) / len(ys)
    sxx = math.fsum((x - mean_x) ** 2 for x in xs)
    sxy = math.fsum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    now_x = (now - first).total_seconds() / _DAY_S
    level = max(0.0, mean_y + slope * (now_x - mean_x))
    return Growth(per_day=slope, level=level, at=now, samples=len(kept), span=span)


def project(growth: Growth, *, capacity: float) -> Projection:
    """When `growth` reaches `capacity`: now if already there, never if flat or shrinking."""
    if growth.level >= capacity:
        return Projection(growth=growth, capacity=capacity, full_at=growth.at, days_left=0.0)
    if growth.per_day <= 0:
        return Projection(growth=growth, capacity=capacity, full_at=None, days_left=None)
    days = (capacity - growth.level) / growth.per_day
    try:
        full_at: datetime | None = growth.at + timedelta(days=days)
    except OverflowError:  # centuries away: no date to show, but the days still say it
        full_at = None
    return Projection(growth=growth, capacity=capacity, full_at=full_at, days_left=days)


class SampleWindow:
    """The counts of the last `window`, at most `MAX_WINDOW_SAMPLES` of them, in time order.

    A sample closer than window / MAX_WINDOW_SAMPLES to the last one kept, or older than it (a clock
    that jumped back), is skipped, so memory stays bounded whatever the check interval.
    """

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self._spacing = window / MAX_WINDOW_SAMPLES
        self._samples: deque[Sample] = deque()

    def __len__(self) -> int:
        return len(self._samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self._samples)

    def add(self, at: datetime, mailboxes: int) -> None:
        if self._samples and at - self._samples[-1].at < self._spacing:
            return
        self._samples.append(Sample(at=at, mailboxes=mailboxes))
        while self._samples and self._samples[0].at <= at - self.window:
            self._samples.popleft()

    def extend(self, samples: Sequence[Sample]) -> None:
        """Load history, e.g. the journal's counts after a restart; call before the first `add`."""
        for s in sorted(samples, key=lambda s: s.at):
            self.add(s.at, s.mailboxes)

    def fit(self, now: datetime) -> Growth | None:
        return fit_growth(self._samples, now=now, window=self.window)
