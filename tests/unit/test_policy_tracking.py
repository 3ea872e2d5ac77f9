"""Tracking mode and predictive scaling, table-driven with exact reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from warmup_autoscaler.policy import Action, Forecast, PolicyConfig, decide, optimal_workers

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
TRACK = PolicyConfig(mode="tracking", target_utilization=0.75, tolerance=0.1)
SIX_MIN = timedelta(minutes=6)


def run(m, n, cfg=TRACK, up=None, down=None, peak=None, forecast=None):
    return decide(
        mailboxes=m,
        workers=n,
        cfg=cfg,
        last_scale_up=up,
        last_scale_down=down,
        now=NOW,
        window_peak=peak,
        forecast=forecast,
    )


TRACKING = [
    # (name, mailboxes, workers, kwargs, action, target, reason)
    (
        "over the band: straight to the set point",
        4500,
        2,
        {},
        Action.SCALE_UP,
        6,
        "Utilization 225.0% over 82.5% (set point 75% +10%) - adding 4 workers",
    ),
    (
        "just over the band: one worker",
        1700,
        2,
        {},
        Action.SCALE_UP,
        3,
        "Utilization 85.0% over 82.5% (set point 75% +10%) - adding worker",
    ),
    (
        "within the tolerance",
        1600,
        2,
        {},
        Action.NO_CHANGE,
        2,
        "Utilization 80.0% within 67.5%-82.5% (set point 75% +-10%)",
    ),
    (
        "under the band: down to the set point",
        1000,
        4,
        {},
        Action.SCALE_DOWN,
        2,
        "Utilization 25.0% under 67.5% (set point 75% -10%) - removing 2 workers",
    ),
    (
        "under the band but the count still needs the fleet",
        2000,
        3,
        {},
        Action.NO_CHANGE,
        3,
        "Utilization 66.7% under 67.5% (set point 75% -10%) but 2,000 mailboxes need 3 workers "
        "at the set point",
    ),
    (
        "scale-down stabilization holds for the window's peak",
        1000,
        4,
        {"peak": 2900},
        Action.NO_CHANGE,
        4,
        "Utilization 25.0% under 67.5% (set point 75% -10%) but the last 30 min peaked at 2,900 "
        "mailboxes (counts), which need 4 workers - scale-down stabilization",
    ),
    (
        "the window's peak limits how far down",
        1000,
        4,
        {"peak": 2000},
        Action.SCALE_DOWN,
        3,
        "Utilization 25.0% under 67.5% (set point 75% -10%) - removing worker",
    ),
    (
        "up cooldown kept",
        1700,
        2,
        {"up": NOW - timedelta(minutes=2)},
        Action.NO_CHANGE,
        2,
        "Utilization 85.0% over 82.5% (set point 75% +10%) but scale-up cooldown has 180s left",
    ),
    (
        "down cooldown kept",
        1000,
        4,
        {"up": NOW - timedelta(minutes=9)},
        Action.NO_CHANGE,
        4,
        "Utilization 25.0% under 67.5% (set point 75% -10%) but scale-down cooldown has 60s left",
    ),
    (
        "at max",
        9000,
        10,
        {},
        Action.NO_CHANGE,
        10,
        "Utilization 90.0% over 82.5% (set point 75% +10%) but already at maximum workers (10)",
    ),
    (
        "at min",
        10,
        1,
        {},
        Action.NO_CHANGE,
        1,
        "Utilization 1.0% under 67.5% (set point 75% -10%) but already at minimum workers (1)",
    ),
]


@pytest.mark.parametrize(
    ("name", "m", "n", "kw", "action", "target", "reason"), TRACKING, ids=[t[0] for t in TRACKING]
)
def test_tracking_decisions(name, m, n, kw, action, target, reason):
    """Tracking mode acts outside set point +- tolerance, keeping cooldowns, bounds and the
    stabilization window, and says why."""
    cfg = PolicyConfig(**{**TRACK.__dict__, "max_workers": 10})
    d = run(m, n, cfg, **kw)
    assert (d.action, d.target_workers, d.reason) == (action, target, reason)


def test_tracking_max_step_limits_a_jump():
    """A jump beyond MAX_STEP workers goes MAX_STEP at a time."""
    cfg = PolicyConfig(mode="tracking", target_utilization=0.75, max_step=3)
    d = run(9000, 1, cfg)
    assert (d.target_workers, d.optimal_workers) == (4, 12)
    assert d.reason == "Utilization 900.0% over 82.5% (set point 75% +10%) - adding 3 workers"


def test_tracking_optimal_is_the_set_point_count():
    """optimalWorkers in tracking mode is ceil(mailboxes / (per worker x set point))."""
    assert optimal_workers(4500, TRACK) == 6
    assert optimal_workers(4501, TRACK) == 7
    assert optimal_workers(0, TRACK) == 1


def test_tracking_zero_workers_is_no_capacity():
    """No workers and some mailboxes: straight to the set point count."""
    d = run(1400, 0, PolicyConfig(mode="tracking", target_utilization=0.75, min_workers=0))
    assert (d.action, d.target_workers) == (Action.SCALE_UP, 2)
    assert d.reason == "No capacity - adding 2 workers"


def forecast(m: int, slope: float = 12.0) -> Forecast:
    return Forecast(mailboxes=m, horizon=SIX_MIN, slope_per_minute=slope)


STEP = PolicyConfig(predictive=True)

PREDICTIVE = [
    # (name, cfg, mailboxes, workers, forecast, kwargs, action, target, reason)
    (
        "the issue's example",
        PolicyConfig(predictive=True, max_workers=10),
        3700,
        5,
        forecast(4620),
        {},
        Action.SCALE_UP,
        6,
        "Forecast 4,620 mailboxes in 6 min (slope 12/min) - adding worker",
    ),
    (
        "a slow slope shows a decimal",
        STEP,
        1560,
        2,
        forecast(1604, 0.4),
        {},
        Action.SCALE_UP,
        3,
        "Forecast 1,604 mailboxes in 6 min (slope 0.4/min) - adding worker",
    ),
    (
        "forecast under the threshold: the band decides",
        STEP,
        1500,
        2,
        forecast(1550),
        {},
        Action.NO_CHANGE,
        2,
        "Utilization 75.0% within band (30%-80%)",
    ),
    (
        "forecast crossing, in the up cooldown",
        STEP,
        1560,
        2,
        forecast(1650),
        {"up": NOW - timedelta(minutes=1)},
        Action.NO_CHANGE,
        2,
        "Forecast 1,650 mailboxes in 6 min (slope 12/min) but scale-up cooldown has 240s left",
    ),
    (
        "forecast crossing, at max",
        PolicyConfig(predictive=True, max_workers=2),
        1560,
        2,
        forecast(1650),
        {},
        Action.NO_CHANGE,
        2,
        "Forecast 1,650 mailboxes in 6 min (slope 12/min) but already at maximum workers (2)",
    ),
    (
        "a scale-down the forecast would undo is held",
        STEP,
        1200,
        4,
        forecast(2500, 200),
        {},
        Action.NO_CHANGE,
        4,
        "Low utilization (30.0%) but Forecast 2,500 mailboxes in 6 min (slope 200/min) would put "
        "3 workers at 83.3% - forecast guard",
    ),
    (
        "a falling forecast never scales down",
        STEP,
        1500,
        2,
        forecast(100, -233),
        {},
        Action.NO_CHANGE,
        2,
        "Utilization 75.0% within band (30%-80%)",
    ),
    (
        "tracking mode: up to the forecast's set point count",
        PolicyConfig(mode="tracking", target_utilization=0.75, predictive=True),
        2400,
        4,
        forecast(3500, 183),
        {},
        Action.SCALE_UP,
        5,
        "Forecast 3,500 mailboxes in 6 min (slope 183/min) - adding worker",
    ),
    (
        "a scale-up raised to what the forecast needs",
        PolicyConfig(mode="target", predictive=True),
        1700,
        2,
        forecast(4000, 383),
        {},
        Action.SCALE_UP,
        6,
        "Forecast 4,000 mailboxes in 6 min (slope 383/min) - adding 4 workers",
    ),
    (
        "predictive off: the forecast is ignored",
        PolicyConfig(),
        1500,
        2,
        forecast(4000),
        {},
        Action.NO_CHANGE,
        2,
        "Utilization 75.0% within band (30%-80%)",
    ),
]


@pytest.mark.parametrize(
    ("name", "cfg", "m", "n", "f", "kw", "action", "target", "reason"),
    PREDICTIVE,
    ids=[p[0] for p in PREDICTIVE],
)
def test_predictive_decisions(name, cfg, m, n, f, kw, action, target, reason):
    """A forecast adds capacity ahead of need or holds a scale-down, and the reason says so."""
    d = run(m, n, cfg, forecast=f, **kw)
    assert (d.action, d.target_workers, d.reason) == (action, target, reason)
    driven = reason.startswith("Forecast") or "Forecast" in reason
    assert (d.forecast is not None) == driven


def test_forecast_in_the_decision_dict():
    """A forecast-driven decision carries the forecast in its JSON; others have no such key."""
    d = run(3700, 5, PolicyConfig(predictive=True), forecast=forecast(4620))
    assert d.to_dict()["forecast"] == {
        "mailboxes": 4620,
        "horizonSeconds": 360.0,
        "slopePerMinute": 12.0,
    }
    assert "forecast" not in run(1500, 2, STEP).to_dict()
