"""The decision engine, table-driven against the seed's own examples and rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from warmup_autoscaler.policy import (
    Action,
    PolicyConfig,
    can_scale_down,
    can_scale_up,
    cooldown_left,
    decide,
    optimal_workers,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SEED = PolicyConfig()  # the seed's defaults: 1000/worker, 1..100, 0.8/0.3, 5 min / 10 min
LONG_AGO = NOW - timedelta(days=1)


def run(m: int, n: int, cfg: PolicyConfig = SEED, up=None, down=None, now=NOW):
    return decide(mailboxes=m, workers=n, cfg=cfg, last_scale_up=up, last_scale_down=down, now=now)


# The seed's "Example Scaling Timeline": (line, mailboxes, workers, action, target)
TIMELINE = [
    ("Day 1 stable", 48, 1, Action.NO_CHANGE, 1),
    ("Day 10 stable", 500, 1, Action.NO_CHANGE, 1),
    ("Day 15 scale up", 850, 1, Action.SCALE_UP, 2),
    ("Day 15 after", 850, 2, Action.NO_CHANGE, 2),
    ("Day 30 scale up", 1800, 2, Action.SCALE_UP, 3),
    ("Day 30 after", 1800, 3, Action.NO_CHANGE, 3),
    ("Day 45 scale up", 3200, 3, Action.SCALE_UP, 4),
    ("Later scale down", 1200, 4, Action.SCALE_DOWN, 3),
    ("Later after", 1200, 3, Action.NO_CHANGE, 3),
]


@pytest.mark.parametrize(
    ("line", "m", "n", "action", "target"), TIMELINE, ids=[t[0] for t in TIMELINE]
)
def test_seed_timeline_past_cooldowns(line, m, n, action, target):
    """Each line of the seed's timeline, checked long after any scaling, acts as the seed says."""
    d = run(m, n, up=LONG_AGO, down=LONG_AGO)
    assert (d.action, d.target_workers) == (action, target), d.reason


def test_seed_timeline_replayed_in_sequence():
    """Replaying the timeline as one run of checks spaced past the cooldowns moves 1->2->3->4->3."""
    t, up, down, n, seen = NOW, None, None, 1, []
    for m in (48, 500, 850, 850, 1800, 1800, 3200, 1200, 1200):
        d = run(m, n, up=up, down=down, now=t)
        if d.action is Action.SCALE_UP:
            up = t
        elif d.action is Action.SCALE_DOWN:
            down = t
        n = d.target_workers
        seen.append(n)
        t += timedelta(minutes=11)
    assert seen == [1, 1, 2, 2, 3, 3, 4, 3, 3]


def test_seed_day45_stable_line_only_holds_during_cooldown():
    """3,200 on 4 workers is 80%: held during the up cooldown, a fifth worker after it."""
    held = run(3200, 4, up=NOW - timedelta(minutes=1))
    assert held.action is Action.NO_CHANGE
    assert held.reason == "High utilization (80.0%) but scale-up cooldown has 240s left"
    after = run(3200, 4, up=NOW - timedelta(minutes=6))
    assert (after.action, after.target_workers) == (Action.SCALE_UP, 5)


INSIDE_COOLDOWN = [
    # (mailboxes, workers, last up ago, last down ago, reason)
    (
        850,
        1,
        timedelta(minutes=2),
        None,
        "High utilization (85.0%) but scale-up cooldown has 180s left",
    ),
    (
        1800,
        2,
        timedelta(seconds=1),
        None,
        "High utilization (90.0%) but scale-up cooldown has 299s left",
    ),
    (
        3200,
        3,
        timedelta(minutes=4, seconds=59, milliseconds=500),
        None,
        "High utilization (106.7%) but scale-up cooldown has 1s left",
    ),
    (
        1200,
        4,
        None,
        timedelta(minutes=9),
        "Low utilization (30.0%) but scale-down cooldown has 60s left",
    ),
    (
        1200,
        4,
        timedelta(minutes=1),
        None,
        "Low utilization (30.0%) but scale-down cooldown has 540s left",
    ),
]


@pytest.mark.parametrize(("m", "n", "up_ago", "down_ago", "reason"), INSIDE_COOLDOWN)
def test_seed_moments_inside_cooldowns_hold_with_cooldown_reason(m, n, up_ago, down_ago, reason):
    """The timeline's scaling moments inside a cooldown give no-change naming the cooldown."""
    d = run(m, n, up=up_ago and NOW - up_ago, down=down_ago and NOW - down_ago)
    assert d.action is Action.NO_CHANGE
    assert d.target_workers == n
    assert d.reason == reason


def test_seed_trigger_example():
    """The seed's trigger example: 850 on 1 worker scales up to 2 with the seed's reason."""
    d = run(850, 1)
    assert d.to_dict() == {
        "action": "scale-up",
        "currentWorkers": 1,
        "targetWorkers": 2,
        "reason": "High utilization (85.0%) - adding worker",
        "mailboxCount": 850,
        "utilizationPercent": 85.0,
        "optimalWorkers": 2,
    }


def test_seed_status_example():
    """The seed's status example: 1,500 on 2 workers is 75.0% with 2 optimal workers."""
    d = run(1500, 2)
    assert d.utilization_percent == 75.0
    assert d.optimal_workers == 2
    assert d.action is Action.NO_CHANGE
    assert d.reason == "Utilization 75.0% within band (30%-80%)"


HOLDS = [
    (
        "at max",
        PolicyConfig(max_workers=3),
        2900,
        3,
        "High utilization (96.7%) but already at maximum workers (3)",
    ),
    ("at min", SEED, 10, 1, "Low utilization (1.0%) but already at minimum workers (1)"),
    ("within band", SEED, 500, 1, "Utilization 50.0% within band (30%-80%)"),
    (
        "flap guard",
        PolicyConfig(scale_up_threshold=0.7, scale_down_threshold=0.4),
        800,
        2,
        "Low utilization (40.0%) but removing a worker would put utilization at 80.0%, "
        "at or over the scale-up threshold (70%) - flap guard",
    ),
]


@pytest.mark.parametrize(("name", "cfg", "m", "n", "reason"), HOLDS, ids=[h[0] for h in HOLDS])
def test_held_decisions_say_why(name, cfg, m, n, reason):
    """A held decision names its cause: bound, band or flap guard."""
    d = run(m, n, cfg)
    assert (d.action, d.target_workers, d.reason) == (Action.NO_CHANGE, n, reason)


def test_thresholds_are_inclusive():
    """Up triggers at exactly the up threshold ("reaches 80%"), down at exactly the down one."""
    assert run(800, 1).action is Action.SCALE_UP
    assert run(799, 1).action is Action.NO_CHANGE
    assert run(600, 2).action is Action.SCALE_DOWN
    assert run(601, 2).action is Action.NO_CHANGE


def test_out_of_range_moves_to_bound_despite_cooldowns():
    """A fleet scaled by hand outside min..max is moved to the bound at once, cooldowns aside."""
    cfg = PolicyConfig(min_workers=2, max_workers=5)
    low = run(0, 0, cfg, up=NOW, down=NOW)
    assert (low.action, low.target_workers) == (Action.SCALE_UP, 2)
    assert low.reason == "Below minimum (0 < 2 workers) - scaling to 2"
    high = run(100, 9, cfg, up=NOW, down=NOW)
    assert (high.action, high.target_workers) == (Action.SCALE_DOWN, 5)
    assert high.reason == "Above maximum (9 > 5 workers) - scaling to 5"


def test_zero_workers_with_mailboxes_is_over_capacity():
    """With min 0, mailboxes and no workers scale up; utilization is reported as null."""
    d = run(5, 0, PolicyConfig(min_workers=0))
    assert (d.action, d.target_workers) == (Action.SCALE_UP, 1)
    assert d.utilization_percent is None
    assert d.reason == "No capacity - adding worker"


def test_scale_to_zero_with_no_mailboxes():
    """With min 0 and no mailboxes the last worker goes; no workers and no mailboxes hold."""
    cfg = PolicyConfig(min_workers=0)
    assert run(0, 1, cfg).target_workers == 0
    assert run(0, 0, cfg).action is Action.NO_CHANGE


def test_target_mode_jumps_to_optimal_within_max_step():
    """Target mode goes straight to the optimal count, at most MAX_STEP workers per decision."""
    cfg = PolicyConfig(mode="target", max_step=10)
    up = run(8500, 1, cfg)
    assert (up.action, up.target_workers, up.optimal_workers) == (Action.SCALE_UP, 11, 11)
    assert up.reason == "High utilization (850.0%) - adding 10 workers"
    capped = run(50_000, 1, cfg)
    assert capped.target_workers == 11 and capped.optimal_workers == 63
    down = run(1000, 10, cfg)
    assert (down.action, down.target_workers) == (Action.SCALE_DOWN, 2)
    assert down.reason == "Low utilization (10.0%) - removing 8 workers"


OPTIMAL = [(0, 1), (1, 1), (799, 1), (800, 2), (1500, 2), (1600, 3), (3200, 5), (10**9, 100)]


@pytest.mark.parametrize(("m", "k"), OPTIMAL)
def test_optimal_workers(m, k):
    """optimalWorkers is the fewest workers under the up threshold, within min..max."""
    assert optimal_workers(m, SEED) == k


def test_cooldown_is_not_stretched_by_a_clock_going_back():
    """A last-scale time in the future (clock moved back) blocks for at most one cooldown."""
    assert cooldown_left(NOW + timedelta(hours=1), timedelta(minutes=5), NOW) == timedelta(
        minutes=5
    )


def test_can_scale_flags():
    """canScaleUp/Down: not at the bound and the cooldown has passed."""
    assert can_scale_up(1, SEED, None, NOW)
    assert not can_scale_up(1, SEED, NOW - timedelta(minutes=1), NOW)
    assert not can_scale_up(100, SEED, None, NOW)
    assert not can_scale_down(1, SEED, None, None, NOW)
    assert can_scale_down(2, SEED, None, NOW - timedelta(minutes=11), NOW)
    assert not can_scale_down(2, SEED, NOW - timedelta(minutes=3), None, NOW)


def test_aggressive_profile_does_not_flap():
    """The seed's aggressive profile (0.7/0.4) at 800 mailboxes stays on 2 workers for 20 checks."""
    cfg = PolicyConfig(
        scale_up_threshold=0.7,
        scale_down_threshold=0.4,
        scale_up_cooldown=timedelta(minutes=3),
        scale_down_cooldown=timedelta(minutes=5),
    )
    n, up, down, t, counts = 1, None, None, NOW, []
    for _ in range(20):
        d = run(800, n, cfg, up=up, down=down, now=t)
        if d.action is Action.SCALE_UP:
            up = t
        elif d.action is Action.SCALE_DOWN:
            down = t
        n = d.target_workers
        counts.append(n)
        t += timedelta(minutes=10)
    assert counts == [2] * 20


def test_negative_counts_are_rejected():
    """Negative inputs are a caller bug, refused with a message."""
    with pytest.raises(ValueError, match="cannot be negative"):
        run(-1, 1)
