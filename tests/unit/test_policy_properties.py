"""Invariants of the decision engine over generated inputs (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from warmup_autoscaler.policy import Action, PolicyConfig, decide, utilization

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@st.composite
def configs(draw: st.DrawFn) -> PolicyConfig:
    lo = draw(st.integers(0, 20))
    hi = draw(st.integers(max(lo, 1), 60))
    down = draw(st.floats(0.01, 0.98))
    up = draw(st.floats(down + 0.01, 1.0))
    return PolicyConfig(
        mailboxes_per_worker=draw(st.integers(1, 5000)),
        min_workers=lo,
        max_workers=hi,
        scale_up_threshold=up,
        scale_down_threshold=down,
        scale_up_cooldown=timedelta(seconds=draw(st.integers(0, 3600))),
        scale_down_cooldown=timedelta(seconds=draw(st.integers(0, 3600))),
        mode=draw(st.sampled_from(["step", "target"])),
        max_step=draw(st.integers(1, 20)),
    )


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
    """A scale-down inside min..max never lands on a count whose utilization reaches up."""
    d = decide(mailboxes=m, workers=n, cfg=cfg, last_scale_up=up, last_scale_down=down, now=NOW)
    if d.action is Action.SCALE_DOWN and n <= cfg.max_workers:
        assert utilization(m, d.target_workers, cfg.mailboxes_per_worker) < cfg.scale_up_threshold


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
