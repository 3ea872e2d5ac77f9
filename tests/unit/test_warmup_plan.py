"""The ramp and the sending window: pure functions of the settings and a clock."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warmup_autoscaler.warmup.plan import Ramp, day_plan, quota_for

RAMP = Ramp(start_volume=2, target_volume=10, ramp_per_day=3, window_start_hour=9,
            window_end_hour=17, timezone="Europe/Paris", started_on=date(2026, 3, 1))  # fmt: skip


@pytest.mark.parametrize(
    ("day", "quota"),
    [(date(2026, 2, 28), 0), (date(2026, 3, 1), 2), (date(2026, 3, 2), 5), (date(2026, 3, 3), 8),
     (date(2026, 3, 4), 10), (date(2026, 3, 30), 10)],
)  # fmt: skip
def test_quota_follows_the_ramp_up_to_the_target(day, quota):
    """Nothing before day 0, start + ramp x n after, capped at the target."""
    assert quota_for(RAMP, day) == quota


def test_slots_fall_inside_the_window_in_local_time_across_a_dst_change():
    """On the day Paris moves to summer time the window 09:00-17:00 local is 07:00-15:00 UTC."""
    plan = day_plan(RAMP, datetime(2026, 3, 29, 12, tzinfo=UTC), seed=7)
    assert plan.quota == 10
    assert all(datetime(2026, 3, 29, 7, tzinfo=UTC) < t < datetime(2026, 3, 29, 15, tzinfo=UTC)
               for t in plan.slot_times)  # fmt: skip
    assert plan.due(datetime(2026, 3, 29, 6, 59, tzinfo=UTC)) == []
    assert plan.due(datetime(2026, 3, 29, 15, tzinfo=UTC)) == list(range(10))


@given(
    seed=st.integers(1, 10**9),
    start=st.integers(0, 22),
    length=st.integers(1, 24),
    quota=st.integers(1, 200),
    minutes=st.integers(0, 24 * 60 - 1),
)
def test_due_slots_are_a_growing_prefix_and_the_plan_is_stable(seed, start, length, quota, minutes):
    """Slots are increasing inside the window, the due ones are a prefix that grows with time,
    and planning again at any time of the same day gives the same slot times."""
    end = min(24, start + length)
    ramp = Ramp(start_volume=quota, target_volume=quota, ramp_per_day=0, window_start_hour=start,
                window_end_hour=end, timezone="UTC", started_on=date(2026, 1, 1))  # fmt: skip
    day = datetime(2026, 6, 1, tzinfo=UTC)
    now = day + timedelta(minutes=minutes)
    plan = day_plan(ramp, now, seed=seed)
    assert plan == day_plan(ramp, day + timedelta(hours=23, minutes=59), seed=seed)
    times = plan.slot_times
    assert len(times) == quota
    assert all(a < b for a, b in itertools.pairwise(times))
    assert day + timedelta(hours=start) < times[0] and times[-1] < day + timedelta(hours=end)
    due = plan.due(now)
    assert due == list(range(len(due)))
    assert len(plan.due(now + timedelta(minutes=1))) >= len(due)
