"""The mailbox count a few minutes ahead, from the recent counts. Pure: no I/O, no clock.

The trend is the median of the slopes between successive counts of the window. A steady trend is
followed, while a bulk import (one jump between two checks) is one slope among many and moves the
median not at all, so a forecast never adds workers for a trend that a single jump made up.
Replaying the generated series chose it over Theil-Sen, the least squares fit of `growth.py` and
Holt's smoothing, which all read the jump as a trend and added workers for nothing (BENCHMARKS.md,
"Forecasters"). The forecast starts from the current count, not a fitted line: it only adds what
the trend brings over the horizon.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from warmup_autoscaler.alerts.growth import Sample
from warmup_autoscaler.policy import Forecast

__all__ = ["MIN_FIT_SAMPLES", "SlopeFit", "forecast", "median_step_slope"]

MIN_FIT_SAMPLES = 3
SlopeFit = Callable[[Sequence[Sample]], float | None]  # mailboxes per second


def median_step_slope(samples: Sequence[Sample]) -> float | None:
    """The median of the slopes between successive samples, in mailboxes per second."""
    slopes = [
        (b.mailboxes - a.mailboxes) / (b.at - a.at).total_seconds()
        for a, b in itertools.pairwise(samples)
        if b.at > a.at
    ]
    return statistics.median(slopes) if slopes else None


def forecast(
    samples: Sequence[Sample],
    *,
    now: datetime,
    mailboxes: int,
    horizon: timedelta,
    window: timedelta,
    slope: SlopeFit | None = None,
) -> Forecast | None:
    """`mailboxes` (the count now) plus the trend of the samples in (now - window, now] over
    `horizon`; None with fewer than `MIN_FIT_SAMPLES` samples. `slope` replaces the trend fit
    (the benchmark's candidates)."""
    kept = [s for s in samples if now - window < s.at <= now]
    if len(kept) < MIN_FIT_SAMPLES:
        return None
    fit = (slope or median_step_slope)(kept)
    if fit is None or not math.isfinite(fit):
        return None
    ahead = max(0, round(mailboxes + fit * horizon.total_seconds()))
    return Forecast(mailboxes=ahead, horizon=horizon, slope_per_minute=fit * 60)
