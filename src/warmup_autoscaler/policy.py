"""The decision engine: a pure function of the count, the fleet, the config and the clock.

No I/O and no clock of its own: `now` and the times of the last scale-up and scale-down are passed
in, so every decision can be replayed. The order of the rules, first match wins:

    outside min..max            -> move to the nearest bound at once (cooldowns aside)
    utilization >= up threshold -> at max? hold : up cooldown? hold : scale up
    utilization <= down thresh. -> at min? hold : flap guard? hold : cooldown? hold : scale down
    otherwise                   -> hold, within band

A scale-up waits `up_cooldown` after the last scale-up; a scale-down waits `down_cooldown` after the
last action of either direction. The flap guard never removes a worker if the smaller fleet's
utilization would reach the up threshold (which would scale it straight back up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

__all__ = [
    "Action",
    "Decision",
    "PolicyConfig",
    "can_scale_down",
    "can_scale_up",
    "cooldown_left",
    "decide",
    "optimal_workers",
    "utilization",
    "utilization_percent",
]


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
    mode: str = "step"  # "step": one worker at a time; "target": straight to the optimal count
    max_step: int = 10


@dataclass(frozen=True, kw_only=True)
class Decision:
    action: Action
    current_workers: int
    target_workers: int
    reason: str
    mailbox_count: int
    utilization_percent: float | None  # None when there are mailboxes but no workers
    optimal_workers: int

    def to_dict(self) -> dict[str, Any]:
        """The seed's JSON shape, plus `optimalWorkers`."""
        return {
            "action": self.action.value,
            "currentWorkers": self.current_workers,
            "targetWorkers": self.target_workers,
            "reason": self.reason,
            "mailboxCount": self.mailbox_count,
            "utilizationPercent": self.utilization_percent,
            "optimalWorkers": self.optimal_workers,
        }


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


def optimal_workers(mailboxes: int, cfg: PolicyConfig) -> int:
    """The fewest workers within min..max whose utilization is below the up threshold (else max)."""
    guess = math.floor(mailboxes / (cfg.scale_up_threshold * cfg.mailboxes_per_worker)) + 1
    if mailboxes == 0:
        guess = 0
    k = max(cfg.min_workers, min(cfg.max_workers, guess))
    # The guess is within one of the answer; settle it with the same comparison `decide` uses.
    while k > cfg.min_workers and not _reaches_up(mailboxes, k - 1, cfg):
        k -= 1
    while k < cfg.max_workers and _reaches_up(mailboxes, k, cfg):
        k += 1
    return k


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


def decide(
    *,
    mailboxes: int,
    workers: int,
    cfg: PolicyConfig,
    last_scale_up: datetime | None,
    last_scale_down: datetime | None,
    now: datetime,
) -> Decision:
    """Decide how many workers the fleet needs now, and say why."""
    if mailboxes < 0 or workers < 0:
        raise ValueError(f"counts cannot be negative (mailboxes={mailboxes}, workers={workers})")
    per = cfg.mailboxes_per_worker
    optimal = optimal_workers(mailboxes, cfg)
    pct = _pct_text(mailboxes, workers, per)

    def make(action: Action, target: int, reason: str) -> Decision:
        return Decision(
            action=action,
            current_workers=workers,
            target_workers=target,
            reason=reason,
            mailbox_count=mailboxes,
            utilization_percent=utilization_percent(mailboxes, workers, per),
            optimal_workers=optimal,
        )

    def hold(reason: str) -> Decision:
        return make(Action.NO_CHANGE, workers, reason)

    if workers < cfg.min_workers:
        return make(
            Action.SCALE_UP,
            cfg.min_workers,
            f"Below minimum ({workers} < {cfg.min_workers} workers) - scaling to {cfg.min_workers}",
        )
    if workers > cfg.max_workers:
        return make(
            Action.SCALE_DOWN,
            cfg.max_workers,
            f"Above maximum ({workers} > {cfg.max_workers} workers) - scaling to {cfg.max_workers}",
        )

    if _reaches_up(mailboxes, workers, cfg):
        if workers >= cfg.max_workers:
            return hold(
                f"High utilization ({pct}) but already at maximum workers ({cfg.max_workers})"
            )
        left = cooldown_left(last_scale_up, cfg.scale_up_cooldown, now)
        if left:
            return hold(
                f"High utilization ({pct}) but scale-up cooldown has {_seconds(left)}s left"
            )
        if cfg.mode == "target":
            target = min(optimal, workers + cfg.max_step, cfg.max_workers)
        else:
            target = workers + 1
        added = target - workers
        what = "adding worker" if added == 1 else f"adding {added} workers"
        label = "No capacity" if workers == 0 else f"High utilization ({pct})"
        return make(Action.SCALE_UP, target, f"{label} - {what}")

    if utilization(mailboxes, workers, per) <= cfg.scale_down_threshold:
        if workers <= cfg.min_workers:
            return hold(
                f"Low utilization ({pct}) but already at minimum workers ({cfg.min_workers})"
            )
        if cfg.mode == "target":
            target = max(optimal, workers - cfg.max_step, cfg.min_workers)
        else:
            target = workers - 1
        if target >= workers or _reaches_up(mailboxes, target, cfg):
            after = _pct_text(mailboxes, workers - 1, per)
            return hold(
                f"Low utilization ({pct}) but removing a worker would put utilization at {after}, "
                "at or over the scale-up threshold "
                f"({cfg.scale_up_threshold * 100:g}%) - flap guard"
            )
        last = _last_action(last_scale_up, last_scale_down)
        left = cooldown_left(last, cfg.scale_down_cooldown, now)
        if left:
            return hold(
                f"Low utilization ({pct}) but scale-down cooldown has {_seconds(left)}s left"
            )
        removed = workers - target
        what = "removing worker" if removed == 1 else f"removing {removed} workers"
        return make(Action.SCALE_DOWN, target, f"Low utilization ({pct}) - {what}")

    return hold(
        f"Utilization {pct} within band "
        f"({cfg.scale_down_threshold * 100:g}%-{cfg.scale_up_threshold * 100:g}%)"
    )
