"""The decision engine: a pure function of the count, the fleet, the config and the clock.

No I/O and no clock of its own: `now` and the times of the last scale-up and scale-down are passed
in, so every decision can be replayed. The order of the rules, first match wins:

    outside min..max            -> move to the nearest bound at once (cooldowns aside)
    utilization >= up threshold -> at max? hold : up cooldown? hold : scale up
    utilization <= down thresh. -> at min? hold : flap guard? hold : cooldown? hold : scale down
    otherwise                   -> hold, within band

Tracking mode replaces the band by a set point (like Kubernetes' HPA): over it by more than the
tolerance -> up to the count at the set point; under it by more than the tolerance -> down to the
count the highest count of the stabilization window needs (`window_peak`), same guards.

A scale-up waits `up_cooldown` after the last scale-up; a scale-down waits `down_cooldown` after the
last action of either direction. The flap guard never removes a worker if the smaller fleet would be
scaled straight back up. With `predictive`, a `Forecast` of the count can only add capacity ahead
of need (the mode's scale-up rule applied to the forecast count) or hold a scale-down that the
forecast would undo; it never removes a worker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

__all__ = [
    "MODES",
    "Action",
    "Decision",
    "Forecast",
    "PolicyConfig",
    "can_scale_down",
    "can_scale_up",
    "cooldown_left",
    "decide",
    "optimal_workers",
    "utilization",
    "utilization_percent",
    "wants_up",
]

MODES = ("step", "target", "tracking")


class Action(StrEnum):
    SCALE_UP = "scale-up"
    SCALE_DOWN = "scale-down"
    NO_CHANGE = "no-change"


@dataclass(frozen=True, kw_only=True)
class PolicyConfig:
    mailboxes_per_worker: int = 1000
    min_workers: int = 1
    max_workers: int = 100
    scale_up_threshold: float = 0.8
    scale_down_threshold: float = 0.3
    scale_up_cooldown: timedelta = timedelta(minutes=5)
    scale_down_cooldown: timedelta = timedelta(minutes=10)
    mode: str = "step"  # "step": one worker at a time; "target": straight to the optimal count;
    # "tracking": toward `target_utilization`, like HPA
    max_step: int = 10
    target_utilization: float = 0.8  # tracking: the set point
    tolerance: float = 0.1  # tracking: no action while utilization / set point is within 1 +- this
    scale_down_stabilization: timedelta = timedelta(minutes=30)  # tracking: see `window_peak`
    predictive: bool = False  # act on a `Forecast` too (scale-ups only)


@dataclass(frozen=True, kw_only=True)
class Forecast:
    """The count expected `horizon` from now (the time a new worker takes to be ready plus the
    check interval), on a trend of `slope_per_minute`."""

    mailboxes: int
    horizon: timedelta
    slope_per_minute: float

    def text(self) -> str:
        """The reason's words: `Forecast 4,620 mailboxes in 6 min (slope 12/min)`."""
        slope = self.slope_per_minute
        shown = f"{slope:,.0f}" if abs(slope) >= 10 else f"{slope:.1f}"
        return f"Forecast {self.mailboxes:,} mailboxes in {_span(self.horizon)} (slope {shown}/min)"


@dataclass(frozen=True, kw_only=True)
class Decision:
    action: Action
    current_workers: int
    target_workers: int
    reason: str
    mailbox_count: int
    utilization_percent: float | None  # None when there are mailboxes but no workers
    optimal_workers: int
    forecast: Forecast | None = None  # set when a forecast drove the decision

    def to_dict(self) -> dict[str, Any]:
        """The seed's JSON shape, plus `optimalWorkers` (and `forecast` when one drove it)."""
        extra: dict[str, Any] = {}
        if self.forecast is not None:
            f = self.forecast
            extra["forecast"] = {
                "mailboxes": f.mailboxes,
                "horizonSeconds": f.horizon.total_seconds(),
                "slopePerMinute": round(f.slope_per_minute, 3),
            }
        return {
            "action": self.action.value,
            "currentWorkers": self.current_workers,
            "targetWorkers": self.target_workers,
            "reason": self.reason,
            "mailboxCount": self.mailbox_count,
            "utilizationPercent": self.utilization_percent,
            "optimalWorkers": self.optimal_workers,
            **extra,
        }


def _span(delta: timedelta) -> str:
    seconds = max(0, round(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def utilization(mailboxes: int, workers: int, per_worker: int) -> float:
    """Mailboxes over capacity; infinite with mailboxes and no workers, 0 with neither."""
    if workers <= 0:
        return math.inf if mailboxes > 0 else 0.0
    return mailboxes / (workers * per_worker)


def utilization_percent(mailboxes: int, workers: int, per_worker: int) -> float | None:
    """Utilization in percent, one decimal; None with mailboxes and no workers."""
    u = utilization(mailboxes, workers, per_worker)
    return None if math.isinf(u) else round(u * 100, 1)


def _pct_text(mailboxes: int, workers: int, per_worker: int) -> str:
    p = utilization_percent(mailboxes, workers, per_worker)
    return "no capacity" if p is None else f"{p:.1f}%"


def _reaches_up(mailboxes: int, workers: int, cfg: PolicyConfig) -> bool:
    return utilization(mailboxes, workers, cfg.mailboxes_per_worker) >= cfg.scale_up_threshold


def _tracking_band(cfg: PolicyConfig) -> tuple[float, float]:
    """Utilization under / over which tracking mode acts."""
    s, t = cfg.target_utilization, cfg.tolerance
    return s * (1 - t), s * (1 + t)


def wants_up(mailboxes: int, workers: int, cfg: PolicyConfig) -> bool:
    """Whether the mode's scale-up rule fires for this count on this fleet."""
    if cfg.mode == "tracking":
        return utilization(mailboxes, workers, cfg.mailboxes_per_worker) > _tracking_band(cfg)[1]
    return _reaches_up(mailboxes, workers, cfg)


def _clamp(k: int, cfg: PolicyConfig) -> int:
    return max(cfg.min_workers, min(cfg.max_workers, k))


def _set_point_workers(mailboxes: int, cfg: PolicyConfig) -> int:
    """HPA's desired count: ceil(mailboxes / (per worker x set point)), within min..max."""
    return _clamp(math.ceil(mailboxes / (cfg.mailboxes_per_worker * cfg.target_utilization)), cfg)


def optimal_workers(mailboxes: int, cfg: PolicyConfig) -> int:
    """The count the mode aims at, within min..max: at the set point in tracking mode, otherwise
    the fewest workers whose utilization is below the up threshold (else max)."""
    if cfg.mode == "tracking":
        return _set_point_workers(mailboxes, cfg)
    guess = math.floor(mailboxes / (cfg.scale_up_threshold * cfg.mailboxes_per_worker)) + 1
    if mailboxes == 0:
        guess = 0
    k = _clamp(guess, cfg)
    # The guess is within one of the answer; settle it with the same comparison `decide` uses.
    while k > cfg.min_workers and not _reaches_up(mailboxes, k - 1, cfg):
        k -= 1
    while k < cfg.max_workers and _reaches_up(mailboxes, k, cfg):
        k += 1
    return k


def _up_target(mailboxes: int, workers: int, cfg: PolicyConfig) -> int:
    """Where a scale-up from `workers` goes: one more in step mode, else toward the optimal count
    by at most `max_step`."""
    if cfg.mode == "step":
        return workers + 1
    return min(max(optimal_workers(mailboxes, cfg), workers + 1), workers + cfg.max_step)


def cooldown_left(last: datetime | None, cooldown: timedelta, now: datetime) -> timedelta:
    """Time left before `cooldown` has passed since `last`; never more than the cooldown itself,
    so a clock that jumps backwards cannot stretch it."""
    if last is None or cooldown <= timedelta(0):
        return timedelta(0)
    elapsed = max(now - last, timedelta(0))
    return max(cooldown - elapsed, timedelta(0))


def _last_action(last_up: datetime | None, last_down: datetime | None) -> datetime | None:
    times = [t for t in (last_up, last_down) if t is not None]
    return max(times) if times else None


def can_scale_up(workers: int, cfg: PolicyConfig, last_up: datetime | None, now: datetime) -> bool:
    return workers < cfg.max_workers and not cooldown_left(last_up, cfg.scale_up_cooldown, now)


def can_scale_down(
    workers: int,
    cfg: PolicyConfig,
    last_up: datetime | None,
    last_down: datetime | None,
    now: datetime,
) -> bool:
    last = _last_action(last_up, last_down)
    return workers > cfg.min_workers and not cooldown_left(last, cfg.scale_down_cooldown, now)


def _seconds(delta: timedelta) -> int:
    return math.ceil(delta.total_seconds())


def _workers_text(count: int) -> str:
    return "worker" if count == 1 else f"{count} workers"


@dataclass(frozen=True, kw_only=True)
class _Check:
    """One decision's inputs, and the helpers that build its `Decision`."""

    mailboxes: int
    workers: int
    cfg: PolicyConfig
    last_up: datetime | None
    last_down: datetime | None
    now: datetime

    @property
    def pct(self) -> str:
        return _pct_text(self.mailboxes, self.workers, self.cfg.mailboxes_per_worker)

    def make(
        self, action: Action, target: int, reason: str, forecast: Forecast | None = None
    ) -> Decision:
        per = self.cfg.mailboxes_per_worker
        return Decision(
            action=action,
            current_workers=self.workers,
            target_workers=target,
            reason=reason,
            mailbox_count=self.mailboxes,
            utilization_percent=utilization_percent(self.mailboxes, self.workers, per),
            optimal_workers=optimal_workers(self.mailboxes, self.cfg),
            forecast=forecast,
        )

    def hold(self, reason: str, forecast: Forecast | None = None) -> Decision:
        return self.make(Action.NO_CHANGE, self.workers, reason, forecast)

    def up(self, label: str, mailboxes: int, forecast: Forecast | None = None) -> Decision:
        """Scale up for `mailboxes` (the count, or a forecast of it), unless at max or cooling."""
        cfg, n = self.cfg, self.workers
        if n >= cfg.max_workers:
            return self.hold(
                f"{label} but already at maximum workers ({cfg.max_workers})", forecast
            )
        left = cooldown_left(self.last_up, cfg.scale_up_cooldown, self.now)
        if left:
            return self.hold(f"{label} but scale-up cooldown has {_seconds(left)}s left", forecast)
        target = _up_target(mailboxes, n, cfg)
        label = "No capacity" if n == 0 and forecast is None else label
        return self.make(
            Action.SCALE_UP, target, f"{label} - adding {_workers_text(target - n)}", forecast
        )

    def down(self, label: str, target: int, guard: str) -> Decision:
        """Scale down to `target` unless the flap guard or the scale-down cooldown holds it."""
        cfg, n, m = self.cfg, self.workers, self.mailboxes
        if target >= n or wants_up(m, target, cfg):
            after = _pct_text(m, min(target, n - 1), cfg.mailboxes_per_worker)
            removed = "a worker" if target >= n - 1 else f"{n - target} workers"
            return self.hold(
                f"{label} but removing {removed} would put utilization at {after}, {guard} "
                "- flap guard"
            )
        last = _last_action(self.last_up, self.last_down)
        left = cooldown_left(last, cfg.scale_down_cooldown, self.now)
        if left:
            return self.hold(f"{label} but scale-down cooldown has {_seconds(left)}s left")
        return self.make(
            Action.SCALE_DOWN, target, f"{label} - removing {_workers_text(n - target)}"
        )


def decide(
    *,
    mailboxes: int,
    workers: int,
    cfg: PolicyConfig,
    last_scale_up: datetime | None,
    last_scale_down: datetime | None,
    now: datetime,
    window_peak: int | None = None,
    forecast: Forecast | None = None,
) -> Decision:
    """Decide how many workers the fleet needs now, and say why.

    `window_peak` is the highest count of the last `scale_down_stabilization`, both ends included
    (tracking mode;
    None: only `mailboxes` is known). `forecast` is used only with `cfg.predictive`.
    """
    if mailboxes < 0 or workers < 0:
        raise ValueError(f"counts cannot be negative (mailboxes={mailboxes}, workers={workers})")
    c = _Check(
        mailboxes=mailboxes,
        workers=workers,
        cfg=cfg,
        last_up=last_scale_up,
        last_down=last_scale_down,
        now=now,
    )
    if workers < cfg.min_workers:
        return c.make(
            Action.SCALE_UP,
            cfg.min_workers,
            f"Below minimum ({workers} < {cfg.min_workers} workers) - scaling to {cfg.min_workers}",
        )
    if workers > cfg.max_workers:
        return c.make(
            Action.SCALE_DOWN,
            cfg.max_workers,
            f"Above maximum ({workers} > {cfg.max_workers} workers) - scaling to {cfg.max_workers}",
        )
    if cfg.mode == "tracking":
        decision = _tracking(c, max(mailboxes, window_peak or 0))
    else:
        decision = _band(c)
    if cfg.predictive and forecast is not None and forecast.mailboxes > mailboxes:
        return _ahead(c, decision, forecast)
    return decision


def _band(c: _Check) -> Decision:
    """Step and target modes: act when utilization leaves the band between the thresholds."""
    cfg, n, m, pct = c.cfg, c.workers, c.mailboxes, c.pct
    if _reaches_up(m, n, cfg):
        return c.up(f"High utilization ({pct})", m)
    if utilization(m, n, cfg.mailboxes_per_worker) <= cfg.scale_down_threshold:
        label = f"Low utilization ({pct})"
        if n <= cfg.min_workers:
            return c.hold(f"{label} but already at minimum workers ({cfg.min_workers})")
        if cfg.mode == "target":
            target = max(optimal_workers(m, cfg), n - cfg.max_step, cfg.min_workers)
        else:
            target = n - 1
        guard = f"at or over the scale-up threshold ({cfg.scale_up_threshold * 100:g}%)"
        return c.down(label, target, guard)
    return c.hold(
        f"Utilization {pct} within band "
        f"({cfg.scale_down_threshold * 100:g}%-{cfg.scale_up_threshold * 100:g}%)"
    )


def _tracking(c: _Check, peak: int) -> Decision:
    """Tracking mode: toward the set point, holding scale-downs for the window's peak."""
    cfg, n, m, pct = c.cfg, c.workers, c.mailboxes, c.pct
    low, high = _tracking_band(cfg)
    point = f"set point {cfg.target_utilization * 100:g}%"
    tolerance = f"{cfg.tolerance * 100:g}%"
    u = utilization(m, n, cfg.mailboxes_per_worker)
    if u > high:
        return c.up(f"Utilization {pct} over {high * 100:g}% ({point} +{tolerance})", m)
    if u >= low:
        return c.hold(
            f"Utilization {pct} within {low * 100:g}%-{high * 100:g}% ({point} +-{tolerance})"
        )
    label = f"Utilization {pct} under {low * 100:g}% ({point} -{tolerance})"
    if n <= cfg.min_workers:
        return c.hold(f"{label} but already at minimum workers ({cfg.min_workers})")
    needed = _set_point_workers(peak, cfg)
    if needed >= n:
        if _set_point_workers(m, cfg) < n:
            window = _span(cfg.scale_down_stabilization)
            what = "counts and forecasts" if cfg.predictive else "counts"
            return c.hold(
                f"{label} but the last {window} peaked at {peak:,} mailboxes ({what}), which "
                f"need {_workers_text(needed)} - scale-down stabilization"
            )
        return c.hold(f"{label} but {m:,} mailboxes need {_workers_text(needed)} at the set point")
    target = max(needed, n - cfg.max_step)
    return c.down(label, target, f"over {high * 100:g}%")


def _ahead(c: _Check, decision: Decision, forecast: Forecast) -> Decision:
    """Predictive: the mode's scale-up rule applied to the forecast count. It can raise a
    scale-up's target, scale up (or hold a scale-down) ahead of need, never remove a worker."""
    cfg, n, future = c.cfg, c.workers, forecast.mailboxes
    label = forecast.text()
    if decision.action is Action.SCALE_UP:
        if not wants_up(future, n, cfg):
            return decision
        target = _up_target(future, n, cfg)
        if target <= decision.target_workers:
            return decision
        return c.make(
            Action.SCALE_UP, target, f"{label} - adding {_workers_text(target - n)}", forecast
        )
    if wants_up(future, n, cfg):
        return c.up(label, future, forecast)
    if decision.action is Action.SCALE_DOWN and wants_up(future, decision.target_workers, cfg):
        after = _pct_text(future, decision.target_workers, cfg.mailboxes_per_worker)
        return c.hold(
            f"{decision.reason.split(' - ')[0]} but {label} would put "
            f"{decision.target_workers} workers at {after} - forecast guard",
            forecast,
        )
    return decision
