"""Today's quota and when each of its messages is due: pure, the clock is passed in.

Day n of the ramp (n = local date - `started_on`) allows `min(target, start + ramp x n)`
messages. They are spread over the sending window [start hour, end hour) in the mailbox's time
zone: slot i is due at the window start + (i + 0.5 + jitter) x window / quota, with a jitter of
at most +-0.3 of the spacing drawn from (seed, day, slot), so times look human yet the same slot
always gets the same time (a mailbox handed to another worker keeps its schedule).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["DayPlan", "Ramp", "day_plan", "quota_for"]

JITTER = 0.3  # of the spacing between two slots, each way


@dataclass(frozen=True, kw_only=True)
class Ramp:
    start_volume: int
    target_volume: int
    ramp_per_day: int
    window_start_hour: int
    window_end_hour: int  # exclusive; 24 is midnight at the end of the day
    timezone: str
    started_on: date


@dataclass(frozen=True, kw_only=True)
class DayPlan:
    day: date  # the mailbox's local date
    quota: int
    slot_times: tuple[datetime, ...]  # UTC, increasing, one per slot

    def due(self, now: datetime) -> list[int]:
        """Slots whose time has come by `now` (all of today's once the window has closed)."""
        return [i for i, at in enumerate(self.slot_times) if at <= now]


def quota_for(ramp: Ramp, day: date) -> int:
    """Messages allowed on `day`: 0 before the start, then the ramp up to the target."""
    n = (day - ramp.started_on).days
    if n < 0:
        return 0
    return min(ramp.target_volume, ramp.start_volume + ramp.ramp_per_day * n)


def _unit(seed: int, day: date, slot: int) -> float:
    digest = hashlib.blake2b(f"{seed}:{day}:{slot}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def day_plan(ramp: Ramp, now: datetime, *, seed: int) -> DayPlan:
    """The plan of the mailbox's local day that contains `now` (an aware datetime)."""
    zone = ZoneInfo(ramp.timezone)
    day = now.astimezone(zone).date()
    quota = quota_for(ramp, day)
    opens = datetime.combine(day, time(ramp.window_start_hour), zone)
    closes = datetime.combine(day, time(0), zone) + timedelta(hours=ramp.window_end_hour)
    # The window's length in real time: a DST change inside it makes the day 1 h longer or shorter.
    length = closes.astimezone(UTC) - opens.astimezone(UTC)
    spacing = length / quota if quota else timedelta(0)
    times = tuple(
        (opens.astimezone(UTC) + spacing * (i + 0.5 + JITTER * (2 * _unit(seed, day, i) - 1)))
        for i in range(quota)
    )
    return DayPlan(day=day, quota=quota, slot_times=times)
