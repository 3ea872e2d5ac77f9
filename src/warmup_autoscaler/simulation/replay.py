"""One check per point of a series, decided by the real `policy.decide` on simulated time.

The cooldowns run on the series' own timestamps, the stabilization window and the forecast come
from the same `Outlook` the daemon uses, and every action is taken as executed. The check interval
is the series' usual spacing (what the forecast horizon adds to the lead time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from warmup_autoscaler.forecast import SlopeFit
from warmup_autoscaler.outlook import Outlook, needs_outlook
from warmup_autoscaler.policy import Action, Forecast, decide, optimal_workers
from warmup_autoscaler.simulation.figures import Figures, measure
from warmup_autoscaler.simulation.profiles import Profile
from warmup_autoscaler.simulation.series import Series

__all__ = ["Check", "Replay", "replay", "start_workers_for"]

Progress = Callable[[int], None]  # checks done so far
PROGRESS_EVERY = 500


@dataclass(frozen=True, kw_only=True)
class Check:
    at: datetime
    mailboxes: int
    workers: int  # after the decision
    action: Action
    reason: str
    forecast: Forecast | None = None


@dataclass(frozen=True, kw_only=True)
class Replay:
    profile: Profile
    series: Series
    lead_time: timedelta  # the platform's time to ready a worker
    start_workers: int
    checks: tuple[Check, ...]
    figures: Figures

    def actions(self) -> list[Check]:
        return [c for c in self.checks if c.action is not Action.NO_CHANGE]

    def to_dict(self, *, timeline: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "profile": self.profile.to_dict(),
            "startWorkers": self.start_workers,
            "finalWorkers": self.checks[-1].workers,
            "figures": self.figures.to_dict(),
            "actions": [_check_dict(c) for c in self.actions()],
        }
        if timeline:
            out["timeline"] = [_check_dict(c) for c in self.checks]
        return out


def _check_dict(c: Check) -> dict[str, Any]:
    return {
        "t": c.at.isoformat().replace("+00:00", "Z"),
        "mailboxes": c.mailboxes,
        "workers": c.workers,
        "action": c.action.value,
        "reason": c.reason,
    }


def start_workers_for(series: Series, profile: Profile) -> int:
    """What the fleet had at the first point if known (stored samples), else a settled fleet:
    the profile's own optimal count for the first count."""
    if series.workers and series.workers[0] is not None:
        return series.workers[0]
    return optimal_workers(series.mailboxes[0], profile.policy)


def replay(
    series: Series,
    profile: Profile,
    *,
    lead_time: timedelta = timedelta(0),
    start_workers: int | None = None,
    slope: SlopeFit | None = None,
    progress: Progress | None = None,
) -> Replay:
    """Replay `series` under `profile`. `lead_time` is the platform's time to ready a worker: it
    delays the capacity a scale-up adds, and is what the forecast assumes unless the profile sets
    AUTO_SCALER_SCALE_UP_LEAD_TIME_MS."""
    cfg = profile.policy
    n = start_workers_for(series, profile) if start_workers is None else start_workers
    first = n
    outlook = None
    if needs_outlook(cfg):
        outlook = Outlook(
            cfg,
            forecast_window=profile.forecast_window,
            check_interval=series.step,
            lead_time=lead_time if profile.lead_time is None else profile.lead_time,
            slope=slope,
        )
    up: datetime | None = None
    down: datetime | None = None
    checks: list[Check] = []
    for i, (at, m) in enumerate(zip(series.times, series.mailboxes, strict=True)):
        inputs = outlook.inputs(at, m) if outlook else None
        d = decide(
            mailboxes=m,
            workers=n,
            cfg=cfg,
            last_scale_up=up,
            last_scale_down=down,
            now=at,
            window_peak=inputs.window_peak if inputs else None,
            forecast=inputs.forecast if inputs else None,
        )
        if d.action is Action.SCALE_UP:
            up = at
        elif d.action is Action.SCALE_DOWN:
            down = at
        n = d.target_workers
        checks.append(
            Check(
                at=at, mailboxes=m, workers=n, action=d.action, reason=d.reason, forecast=d.forecast
            )
        )
        if progress is not None and (i + 1) % PROGRESS_EVERY == 0:
            progress(i + 1)
    if progress is not None:
        progress(len(checks))
    figures = measure(
        series.times,
        series.mailboxes,
        [c.workers for c in checks],
        start_workers=first,
        per_worker=cfg.mailboxes_per_worker,
        up_threshold=cfg.scale_up_threshold,
        lead_time=lead_time,
    )
    return Replay(
        profile=profile,
        series=series,
        lead_time=lead_time,
        start_workers=first,
        checks=tuple(checks),
        figures=figures,
    )
