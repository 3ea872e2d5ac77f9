"""The forecaster and the outlook (window peak, forecast) on known series, and the controller
passing them to the policy."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.settings import make_settings
from tests.unit.test_controller import Clock, FakeCounter, FakeJournal, FakePlatform
from warmup_autoscaler.alerts.growth import Sample
from warmup_autoscaler.controller import Controller
from warmup_autoscaler.forecast import forecast, median_step_slope
from warmup_autoscaler.outlook import Outlook, needs_outlook
from warmup_autoscaler.policy import PolicyConfig

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)


def series(*counts: int, step: timedelta = FIVE) -> list[Sample]:
    return [Sample(at=T0 + i * step, mailboxes=m) for i, m in enumerate(counts)]


def test_a_steady_trend_is_followed_exactly():
    """60 mailboxes per 5 min is 12/min; 6 min ahead of 4,548 is 4,620."""
    samples = series(*(4248 + 60 * i for i in range(6)))
    f = forecast(
        samples, now=samples[-1].at, mailboxes=4548, horizon=timedelta(minutes=6), window=FIVE * 6
    )
    assert f is not None
    assert (f.mailboxes, f.slope_per_minute) == (4620, pytest.approx(12.0))
    assert f.text() == "Forecast 4,620 mailboxes in 6 min (slope 12/min)"


def test_a_bulk_import_is_not_a_trend():
    """One jump between two checks is one slope among many: the forecast stays at the count."""
    samples = series(900, 905, 898, 4500, 4510, 4502)
    slope = median_step_slope(samples)
    assert slope is not None and abs(slope * 300) <= 5  # at most the noise: 5 mailboxes a check
    f = forecast(samples, now=samples[-1].at, mailboxes=4502, horizon=FIVE, window=FIVE * 6)
    assert f is not None and abs(f.mailboxes - 4502) <= 5


def test_too_few_samples_or_only_old_ones_give_no_forecast():
    """Under three samples in the window there is no trend to speak of."""
    samples = series(100, 200, 300, 400)
    now = samples[-1].at
    assert forecast(samples[:2], now=now, mailboxes=400, horizon=FIVE, window=FIVE * 6) is None
    assert forecast(samples, now=now, mailboxes=400, horizon=FIVE, window=FIVE * 2) is None


def test_the_window_peak_includes_a_count_exactly_one_window_old():
    """A count 30 min old still counts in a 30 min stabilization window; 35 min old does not."""
    outlook = Outlook(PolicyConfig(mode="tracking"), forecast_window=FIVE * 6, check_interval=FIVE)
    for i, m in enumerate([4600, 4400, 4400, 4400, 4400, 4400]):
        outlook.inputs(T0 + i * FIVE, m)
    assert outlook.inputs(T0 + 6 * FIVE, 4400).window_peak == 4600
    assert outlook.inputs(T0 + 7 * FIVE, 4400).window_peak == 4400


def test_forecasts_count_as_peaks_when_predictive():
    """With predictive on, a forecast of the window is a peak, so a worker added ahead of need is
    not removed within the window; the horizon is the lead time plus the check interval."""
    cfg = PolicyConfig(mode="tracking", predictive=True)
    outlook = Outlook(cfg, forecast_window=FIVE * 6, check_interval=FIVE, lead_time=FIVE)
    assert outlook.horizon == timedelta(minutes=10)
    for i, m in enumerate([1000, 1100, 1200, 1300]):
        inputs = outlook.inputs(T0 + i * FIVE, m)
    assert inputs.forecast is not None and inputs.forecast.mailboxes == 1500
    assert outlook.inputs(T0 + 4 * FIVE, 1300).window_peak == 1500


def test_only_tracking_and_predictive_need_an_outlook():
    """Step and target modes decide on the count alone."""
    assert not needs_outlook(PolicyConfig(mode="target"))
    assert needs_outlook(PolicyConfig(mode="tracking"))
    assert needs_outlook(PolicyConfig(predictive=True))


def test_the_controller_holds_a_scale_down_for_the_windows_peak():
    """In tracking mode the controller passes the window's peak: a drop right after a peak is held
    and journaled with the stabilization reason, and scaled down once the peak is 30 min old."""
    clock = Clock()
    counter, platform, journal = FakeCounter(4400), FakePlatform(6), FakeJournal()
    settings = make_settings(
        local_worker_command="true",
        scaling_mode="tracking",
        target_utilization=0.75,
        tracking_tolerance=0.1,
        scale_down_stabilization_ms=1_800_000,
    )
    outlook = Outlook(settings.policy.to_policy(), forecast_window=FIVE * 6, check_interval=FIVE)
    controller = Controller(
        settings=settings,
        counter=counter,
        platform=platform,
        journal=journal,
        clock=clock,
        outlook=outlook,
    )

    async def checks() -> list[str]:
        reasons = []
        for minutes, count in ((0, 4400), (5, 2000), (31, 2000)):
            clock.now = T0 + timedelta(minutes=minutes)
            counter.value = count
            result = await controller.check()
            assert result.decision is not None
            reasons.append(result.decision.reason)
        return reasons

    reasons = asyncio.run(checks())
    assert reasons[1] == (
        "Utilization 33.3% under 67.5% (set point 75% -10%) but the last 30 min peaked at 4,400 "
        "mailboxes (counts), which need 6 workers - scale-down stabilization"
    )
    assert reasons[2] == "Utilization 33.3% under 67.5% (set point 75% -10%) - removing 3 workers"
    assert [r.reason for r in journal.records] == reasons
    assert platform.workers == 3
