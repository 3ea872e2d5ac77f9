"""Growth by least squares and the projection of when the fleet at max is full, on known series."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from warmup_autoscaler.alerts import growth
from warmup_autoscaler.alerts.growth import (
    MAX_WINDOW_SAMPLES,
    Growth,
    Sample,
    SampleWindow,
    capacity_at_max,
    fit_growth,
    project,
)
from warmup_autoscaler.policy import PolicyConfig

NOW = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
CAPACITY = capacity_at_max(PolicyConfig(max_workers=10, mailboxes_per_worker=1000))  # 8,000


def hourly(count_at_day, days: float = 7, end: datetime = NOW) -> list[Sample]:
    """One sample an hour for `days` (inside a window that long) up to `end`; the count is a
    function of the day relative to `end`."""
    hours = int(days * 24)
    return [
        Sample(at=end - timedelta(hours=h), mailboxes=round(count_at_day(-h / 24)))
        for h in range(hours - 1, -1, -1)
    ]


def test_capacity_at_max_is_max_workers_times_per_worker_times_up_threshold():
    """Full means the fleet at max reaching the scale-up threshold: 10 x 1000 x 0.8."""
    assert pytest.approx(8000) == CAPACITY


def test_linear_growth_gives_exact_slope_and_days_left():
    """120 mailboxes/day (5 an hour) from 2,000 now reaches 8,000 in exactly 50 days."""
    fit = fit_growth(hourly(lambda d: 2000 + 120 * d), now=NOW, window=WEEK)
    assert fit is not None
    assert fit.per_day == pytest.approx(120, rel=1e-9)
    assert fit.level == pytest.approx(2000, rel=1e-9)
    assert fit.samples == 7 * 24
    p = project(fit, capacity=CAPACITY)
    assert p.days_left == pytest.approx(50, rel=1e-9)
    assert p.full_at is not None
    assert abs(p.full_at - (NOW + timedelta(days=50))) < timedelta(milliseconds=1)
    assert p.to_dict() == {
        "growthPerDay": 120.0,
        "mailboxesNow": 2000.0,
        "capacityAtMax": 8000.0,
        "fullAt": p.full_at.isoformat().replace("+00:00", "Z"),
        "daysLeft": 50.0,
        "samples": 168,
        "spanDays": 6.96,
    }
    assert p.to_dict()["fullAt"].startswith("2026-04-27T12:00:00")


@pytest.mark.parametrize(
    ("name", "series"),
    [("flat", lambda d: 5000), ("shrinking", lambda d: 5000 - 40 * d)],
)
def test_flat_or_shrinking_count_is_never_full(name, series):
    """A count that does not grow has a growth rate but no full date and no days left."""
    fit = fit_growth(hourly(series), now=NOW, window=WEEK)
    assert fit is not None
    assert fit.per_day <= 0, name
    p = project(fit, capacity=CAPACITY)
    assert (p.full_at, p.days_left) == (None, None)
    assert p.to_dict()["fullAt"] is None


def test_noisy_growth_is_close_to_the_true_slope():
    """50/day under +-40 noise: the fitted slope is within 5/day and the days left within 10%."""
    rng = random.Random(5)
    fit = fit_growth(hourly(lambda d: 6000 + 50 * d + rng.gauss(0, 40)), now=NOW, window=WEEK)
    assert fit is not None
    assert fit.per_day == pytest.approx(50, abs=5)
    days_left = project(fit, capacity=CAPACITY).days_left
    assert days_left == pytest.approx(40, rel=0.1)


@pytest.mark.parametrize(
    "samples",
    [
        [],
        [Sample(at=NOW - timedelta(days=d), mailboxes=100 * d) for d in range(4)],  # 4 < 5 samples
        hourly(lambda d: 1000 + 120 * d, days=0.5),  # 12 samples over 11 hours < 1 day
    ],
    ids=["none", "too-few", "too-short"],
)
def test_too_little_data_gives_no_growth(samples):
    """Fewer than MIN_SAMPLES samples, or a span under MIN_SPAN, gives no growth at all."""
    assert fit_growth(samples, now=NOW, window=WEEK) is None


def test_only_samples_inside_the_window_count():
    """A shrinking history older than the window does not bend the fit of the last week."""
    old = hourly(lambda d: 9000 - 500 * d, days=7, end=NOW - timedelta(days=8))
    fit = fit_growth(old + hourly(lambda d: 2000 + 120 * d), now=NOW, window=WEEK)
    assert fit is not None
    assert fit.per_day == pytest.approx(120, rel=1e-9)


def test_count_already_over_capacity_is_full_now():
    """A trend already at capacity projects zero days left, full at `now`."""
    fit = Growth(per_day=10, level=8500, at=NOW, samples=10, span=WEEK)
    assert project(fit, capacity=CAPACITY).days_left == 0
    assert project(fit, capacity=CAPACITY).full_at == NOW


def test_growth_too_slow_for_a_date_keeps_the_days():
    """A full date beyond datetime's range is None, while the days left still say how far."""
    fit = Growth(per_day=1e-9, level=0, at=NOW, samples=10, span=WEEK)
    p = project(fit, capacity=CAPACITY)
    assert p.full_at is None
    assert p.days_left == pytest.approx(8e12)


def test_sample_window_bounds_memory_and_drops_old_samples():
    """A sample a second for 2 days keeps at most MAX samples, none older than the window."""
    window = SampleWindow(timedelta(days=1))
    start = NOW - timedelta(days=2)
    for s in range(0, 2 * 86_400, 1):
        window.add(start + timedelta(seconds=s), 1000)
    assert 0 < len(window) <= MAX_WINDOW_SAMPLES
    window.add(start, 5)  # a clock that jumped back is ignored
    assert len(window) <= MAX_WINDOW_SAMPLES
    fit = window.fit(NOW)
    assert fit is not None
    assert fit.per_day == pytest.approx(0, abs=1e-9)


def test_sample_window_extend_loads_history_in_time_order():
    """History from the journal, in any order, is fitted like live samples."""
    window = SampleWindow(WEEK)
    window.extend(list(reversed(hourly(lambda d: 3000 + 24 * d))))
    fit = window.fit(NOW)
    assert fit is not None
    assert fit.per_day == pytest.approx(24, rel=1e-9)


def test_exported_members():
    """growth exports exactly what it documents, and each name exists."""
    assert all(hasattr(growth, name) for name in growth.__all__)
