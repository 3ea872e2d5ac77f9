"""Invariants of the decision engine over generated inputs (hypothesis)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from warmup_autoscaler.policy import Action, Forecast, PolicyConfig, decide, wants_up

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@st.composite
def configs(draw: st.DrawFn) -> PolicyConfig:
    lo = draw(st.integers(0, 20))
    hi = draw(st.integers(max(lo, 1), 60))
    down = draw(st.floats(0.01, 0.98))
    up = draw(st.floats(down + 0.01, 1.0))
    tolerance = draw(st.floats(0.0, 0.5))
    set_point = draw(st.floats(0.05, 1 / (1 + tolerance)))
    return PolicyConfig(
        mailboxes_per_worker=draw(st.integers(1, 5000)),
        min_workers=lo,
        max_workers=hi,
        scale_up_threshold=up,
        scale_down_threshold=down,
        scale_up_cooldown=timedelta(seconds=draw(st.integers(0, 3600))),
        scale_down_cooldown=timedelta(seconds=draw(st.integers(0, 3600))),
        mode=draw(st.sampled_from(["step", "target", "tracking"])),
        max_step=draw(st.integers(1, 20)),
        target_utilization=set_point,
        tolerance=tolerance,
        scale_down_stabilization=timedelta(seconds=draw(st.integers(0, 3600))),
        predictive=draw(st.booleans()),
    )


forecasts = st.one_of(
    st.none(),
    st.builds(
        Forecast,
        mailboxes=st.integers(0, 250_000),
        horizon=st.integers(0, 3600).map(lambda s: timedelta(seconds=s)),
        slope_per_minute=st.floats(-1000, 1000),
    ),
)
peaks = st.one_of(st.none(), st.integers(0, 250_000))


last_times = st.one_of(st.none(), st.integers(-7200, 600).map(lambda s: NOW - timedelta(seconds=s)))


@given(
    cfg=configs(), m=st.integers(0, 200_000), n=st.integers(0, 80), up=last_times, down=last_times
)
def test_target_within_bounds(cfg, m, n, up, down):
    """The target is always within min..max."""
    d = decide(mailboxes=m, workers=n, cfg=cfg, last_scale_up=up, last_scale_down=down, now=NOW)
    assert cfg.min_workers <= d.target_workers <= cfg.max_workers
    assert cfg.min_workers <= d.optimal_workers <= cfg.max_workers


@given(
    cfg=configs(), m=st.integers(0, 200_000), n=st.integers(0, 80), up=last_times, down=last_times
)
def test_never_scales_down_into_a_scale_up(cfg, m, n, up, down):
    """A scale-down inside min..max never lands on a count the mode would scale straight up."""
    d = decide(mailboxes=m, workers=n, cfg=cfg, last_scale_up=up, last_scale_down=down, now=NOW)
    if d.action is Action.SCALE_DOWN and n <= cfg.max_workers:
        assert not wants_up(m, d.target_workers, cfg)


@given(cfg=configs(), m=st.integers(0, 200_000), n=st.integers(0, 80), ago=st.integers(0, 3600))
def test_no_action_inside_a_cooldown(cfg, m, n, ago):
    """Inside a cooldown, the only action is moving back into min..max."""
    last = NOW - timedelta(seconds=ago)
    d = decide(mailboxes=m, workers=n, cfg=cfg, last_scale_up=last, last_scale_down=None, now=NOW)
    in_range = cfg.min_workers <= n <= cfg.max_workers
    if in_range and d.action is Action.SCALE_UP:
        assert timedelta(seconds=ago) >= cfg.scale_up_cooldown
    if in_range and d.action is Action.SCALE_DOWN:
        assert timedelta(seconds=ago) >= cfg.scale_down_cooldown


@given(cfg=configs(), m=st.integers(0, 200_000), n=st.integers(0, 80))
def test_scale_direction_matches_action(cfg, m, n):
    """scale-up raises the count, scale-down lowers it, no-change keeps it; steps obey max_step."""
    d = decide(mailboxes=m, workers=n, cfg=cfg, last_scale_up=None, last_scale_down=None, now=NOW)
    if d.action is Action.SCALE_UP:
        assert d.target_workers > n
    elif d.action is Action.SCALE_DOWN:
        assert d.target_workers < n
    else:
        assert d.target_workers == n
    in_range = cfg.min_workers <= n <= cfg.max_workers
    if in_range:
        limit = 1 if cfg.mode == "step" else cfg.max_step
        assert abs(d.target_workers - n) <= limit


@given(cfg=configs(), m=st.integers(0, 50_000), n0=st.integers(0, 60), checks=st.integers(5, 40))
def test_repeated_checks_settle(cfg, m, n0, checks):
    """With a constant count and cooldowns passed, the fleet never reverses direction."""
    n, t, up, down, directions = n0, NOW, None, None, []
    for _ in range(checks):
        d = decide(mailboxes=m, workers=n, cfg=cfg, last_scale_up=up, last_scale_down=down, now=t)
        if d.action is Action.SCALE_UP:
            up = t
            directions.append(1)
        elif d.action is Action.SCALE_DOWN:
            down = t
            directions.append(-1)
        n = d.target_workers
        t += timedelta(hours=2)
    assert directions == sorted(directions) or directions == sorted(directions, reverse=True)


@given(
    cfg=configs(),
    m=st.integers(0, 200_000),
    n=st.integers(0, 80),
    up=last_times,
    down=last_times,
    peak=peaks,
    forecast=forecasts,
)
def test_a_forecast_never_scales_down(cfg, m, n, up, down, peak, forecast):
    """With predictive on, a forecast only adds capacity: the target is never below the decision
    without it, and a scale-down is exactly the one taken without the forecast."""
    common = dict(
        mailboxes=m, workers=n, last_scale_up=up, last_scale_down=down, now=NOW, window_peak=peak
    )
    cfg = PolicyConfig(**{**cfg.__dict__, "predictive": True})
    without = decide(cfg=cfg, **common)
    with_forecast = decide(cfg=cfg, forecast=forecast, **common)
    assert with_forecast.target_workers >= without.target_workers
    if with_forecast.action is Action.SCALE_DOWN:
        assert with_forecast == without
    if with_forecast != without:
        assert with_forecast.forecast is forecast
        assert (
            with_forecast.reason.startswith("Forecast") or "forecast guard" in with_forecast.reason
        )


@given(cfg=configs(), m=st.integers(0, 200_000), n=st.integers(0, 80), peak=peaks)
def test_stabilization_never_removes_what_the_peak_needs(cfg, m, n, peak):
    """Tracking mode scales down no lower than the window's peak needs at the set point."""
    cfg = PolicyConfig(**{**cfg.__dict__, "mode": "tracking"})
    d = decide(
        mailboxes=m,
        workers=n,
        cfg=cfg,
        last_scale_up=None,
        last_scale_down=None,
        now=NOW,
        window_peak=peak,
    )
    if d.action is Action.SCALE_DOWN and n <= cfg.max_workers:
        highest = max(m, peak or 0)
        needed = math.ceil(highest / (cfg.mailboxes_per_worker * cfg.target_utilization))
        assert d.target_workers >= min(cfg.max_workers, needed)
