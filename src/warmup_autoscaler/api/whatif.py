"""What a setting profile would have done over the stored samples: the dashboard's what-if panel.

The samples of the window (all of them, up to `MAX_HISTORY_POINTS`) are replayed through the real
policy with `simulate`'s replay, from the workers the fleet really had at the first sample; the
answer has the figures of what happened and of the profile, and both capacity lines, thinned to
at most `DRAWN_POINTS` points for the chart (the figures always cover every sample).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, status

from warmup_autoscaler.api.history import RESPONSES, WINDOWS
from warmup_autoscaler.config import Settings
from warmup_autoscaler.controller import utc_now
from warmup_autoscaler.errors import SeriesError, StoreError
from warmup_autoscaler.simulation.figures import measure
from warmup_autoscaler.simulation.profiles import PROFILES, named_profile
from warmup_autoscaler.simulation.replay import replay
from warmup_autoscaler.simulation.series import MAX_HISTORY_POINTS, Series, from_samples
from warmup_autoscaler.store.history import HistoryStore
from warmup_autoscaler.store.lead_times import LeadTimeStore
from warmup_autoscaler.wire import iso

__all__ = ["DRAWN_POINTS", "whatif_router"]

DRAWN_POINTS = 500
ProfileName = Literal[
    "current", "conservative", "balanced", "aggressive", "step", "target", "tracking", "predictive"
]


def _actual_workers(series: Series) -> list[int]:
    """The stored worker counts, a missing one (failed platform read) held from the last known."""
    known, out = next((w for w in series.workers or () if w is not None), 0), []
    for w in series.workers or ():
        known = known if w is None else w
        out.append(known)
    return out


def whatif(history: HistoryStore, settings: Settings, window: str, name: str) -> dict[str, Any]:
    until = utc_now()
    since = until - WINDOWS[window]
    profile = named_profile(settings, name)
    stored = history.samples(since, until, max_points=MAX_HISTORY_POINTS)
    base: dict[str, Any] = {
        "window": window,
        "since": iso(since),
        "until": iso(until),
        "profile": profile.to_dict(),
        "profiles": list(PROFILES),
    }
    try:
        series = from_samples(stored, f"last {window}")
    except SeriesError:
        return {**base, "checks": 0, "actual": None, "simulated": None, "points": []}
    lead = LeadTimeStore(history.db).typical() or timedelta(0)
    result = replay(series, profile, lead_time=lead)
    actual = _actual_workers(series)
    per = settings.policy.mailboxes_per_worker
    happened = measure(
        series.times,
        series.mailboxes,
        actual,
        start_workers=actual[0],
        per_worker=per,
        up_threshold=settings.policy.scale_up_threshold,
    )
    step = max(1, -(-len(series) // DRAWN_POINTS))
    drawn = sorted({*range(0, len(series), step), len(series) - 1})
    return {
        **base,
        "checks": len(series),
        "leadTimeSeconds": lead.total_seconds(),
        "actual": happened.to_dict(),
        "simulated": result.figures.to_dict(),
        "points": [
            {
                "t": iso(series.times[i]),
                "mailboxes": series.mailboxes[i],
                "actualCapacity": actual[i] * per,
                "capacity": result.checks[i].workers * per,
            }
            for i in drawn
        ],
    }


def whatif_router(history: HistoryStore, settings: Settings, prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix)

    @router.get("/whatif", responses=RESPONSES)
    async def get_whatif(
        window: Literal["24h", "7d", "30d"] = "24h", profile: ProfileName = "current"
    ) -> dict[str, Any]:
        """A profile replayed over the window's stored samples, next to what happened."""
        try:
            return await asyncio.to_thread(whatif, history, settings, window, profile)
        except StoreError as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, exc.message) from exc

    return router
