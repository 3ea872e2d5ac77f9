"""What a fleet's history costs and risks, from its counts and its worker counts over time.

Counts and worker counts hold from one point to the next; a worker added at a point counts as
capacity only `lead_time` later (the platform's time to ready it) but is paid for from the point
it was ordered; a removed worker stops counting at once. Over the series:

    under-capacity   mailboxes above 100% of ready capacity, times hours
    worker-hours     workers ordered, times hours
    actions, flaps   changes of the worker count; a flap is a change of direction within 30 min
    hours above up   time with utilization at or over the profile's scale-up threshold
    peak backlog     the most mailboxes above ready capacity at any moment
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["FLAP_WINDOW", "Figures", "measure", "rank_key"]

FLAP_WINDOW = timedelta(minutes=30)
_HOUR_S = 3600.0


@dataclass(frozen=True, kw_only=True)
class Figures:
    hours: float
    under_capacity_mailbox_hours: float
    worker_hours: float
    scale_ups: int
    scale_downs: int
    flaps: int
    hours_above_up: float
    peak_backlog: int
    peak_workers: int

    @property
    def actions(self) -> int:
        return self.scale_ups + self.scale_downs

    def to_dict(self) -> dict[str, Any]:
        return {
            "hours": round(self.hours, 3),
            "underCapacityMailboxHours": round(self.under_capacity_mailbox_hours, 3),
            "workerHours": round(self.worker_hours, 3),
            "scalingActions": self.actions,
            "scaleUps": self.scale_ups,
            "scaleDowns": self.scale_downs,
            "flaps": self.flaps,
            "hoursAboveUpThreshold": round(self.hours_above_up, 3),
            "peakBacklog": self.peak_backlog,
            "peakWorkers": self.peak_workers,
        }


def rank_key(f: Figures) -> tuple[float, int, float, int]:
    """Best first: least under-capacity, then fewest flaps, worker-hours, actions."""
    return (round(f.under_capacity_mailbox_hours, 6), f.flaps, round(f.worker_hours, 6), f.actions)


def measure(
    times: Sequence[datetime],
    mailboxes: Sequence[int],
    workers: Sequence[int],
    *,
    start_workers: int,
    per_worker: int,
    up_threshold: float,
    lead_time: timedelta = timedelta(0),
) -> Figures:
    """The figures of a fleet that had `workers[i]` (ordered) from `times[i]` to the next point,
    and `start_workers` before the first."""
    ups = downs = flaps = 0
    last_dir, last_at, before = 0, None, start_workers
    for at, n in zip(times, workers, strict=True):
        if n != before:
            direction = 1 if n > before else -1
            ups, downs = ups + (direction > 0), downs + (direction < 0)
            if last_at is not None and direction != last_dir and at - last_at <= FLAP_WINDOW:
                flaps += 1
            last_dir, last_at, before = direction, at, n

    def ordered(at: datetime) -> int:
        i = bisect.bisect_right(times, at) - 1
        return start_workers if i < 0 else workers[i]

    end = times[-1]
    edges = sorted(
        {*times, *(t + lead_time for t in times if t + lead_time < end)} if lead_time else times
    )
    under = paid = hot = 0.0
    backlog_peak = 0
    for a, b in itertools.pairwise(edges):
        i = bisect.bisect_right(times, a) - 1
        m, n = mailboxes[i], workers[i]
        ready = min(n, ordered(a - lead_time)) if lead_time else n
        hours = (b - a).total_seconds() / _HOUR_S
        backlog = max(0, m - ready * per_worker)
        under += backlog * hours
        paid += n * hours
        if m > 0 and (ready == 0 or m >= up_threshold * ready * per_worker):
            hot += hours
        backlog_peak = max(backlog_peak, backlog)
    last_ready = min(workers[-1], ordered(end - lead_time)) if lead_time else workers[-1]
    backlog_peak = max(backlog_peak, mailboxes[-1] - last_ready * per_worker)
    return Figures(
        hours=(end - times[0]).total_seconds() / _HOUR_S,
        under_capacity_mailbox_hours=under,
        worker_hours=paid,
        scale_ups=ups,
        scale_downs=downs,
        flaps=flaps,
        hours_above_up=hot,
        peak_backlog=backlog_peak,
        peak_workers=max([start_workers, *workers]),
    )
