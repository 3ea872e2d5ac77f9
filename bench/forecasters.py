"""Candidate trend fits for the predictive forecaster, compared by `bench/simulation.py`.

Each is a `forecast.SlopeFit`: recent samples -> mailboxes per second. The daemon uses the median
of successive slopes (`warmup_autoscaler.forecast.median_step_slope`); the others are the ones it
was chosen over.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from datetime import timedelta

from warmup_autoscaler.alerts.growth import Sample, fit_growth
from warmup_autoscaler.forecast import median_step_slope

__all__ = ["CANDIDATES", "holt_slope", "least_squares_slope", "theil_sen_slope"]

HOLT_ALPHA = 0.5  # level smoothing
HOLT_BETA = 0.3  # trend smoothing


def least_squares_slope(samples: Sequence[Sample]) -> float | None:
    """The least-squares slope of growth.py's `fit_growth`, over the samples given."""
    if len(samples) < 2:
        return None
    fit = fit_growth(
        samples,
        now=samples[-1].at,
        window=samples[-1].at - samples[0].at + timedelta(seconds=1),
        min_samples=2,
        min_span=timedelta(0),
    )
    return None if fit is None else fit.per_day / 86_400


def holt_slope(samples: Sequence[Sample]) -> float | None:
    """Holt's double exponential smoothing (level and trend), on irregular times."""
    if len(samples) < 2:
        return None
    level = float(samples[0].mailboxes)
    first_gap = (samples[1].at - samples[0].at).total_seconds()
    trend = (samples[1].mailboxes - samples[0].mailboxes) / first_gap if first_gap else 0.0
    for prev, s in itertools.pairwise(samples):
        dt = (s.at - prev.at).total_seconds()
        if dt <= 0:
            continue
        guess = level + trend * dt
        new_level = HOLT_ALPHA * s.mailboxes + (1 - HOLT_ALPHA) * guess
        trend = HOLT_BETA * (new_level - level) / dt + (1 - HOLT_BETA) * trend
        level = new_level
    return trend


def theil_sen_slope(samples: Sequence[Sample]) -> float | None:
    """Theil-Sen: the median of the slopes between every pair of samples."""
    slopes = [
        (b.mailboxes - a.mailboxes) / (b.at - a.at).total_seconds()
        for i, a in enumerate(samples)
        for b in samples[i + 1 :]
        if b.at != a.at
    ]
    return statistics.median(slopes) if slopes else None


CANDIDATES = {
    "median-step": median_step_slope,
    "theil-sen": theil_sen_slope,
    "least-squares": least_squares_slope,
    "holt": holt_slope,
}
