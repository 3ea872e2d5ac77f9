"""Read-only views of the past: the decision journal (paged) and samples for the charts."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from warmup_autoscaler.api.errors import ERROR_RESPONSES, ApiError
from warmup_autoscaler.controller import utc_now
from warmup_autoscaler.errors import StoreError
from warmup_autoscaler.store.history import HistoryStore
from warmup_autoscaler.wire import as_utc, check_json, iso, sample_json

__all__ = ["WINDOWS", "history_router"]

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
MAX_ID = 2**63 - 1  # the journal's ids are BIGINTs
RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    503: {"description": "The database cannot be read (`detail` says why)"},
}


def _iso_text(value: object) -> object:
    """Only ISO 8601 text: pydantic would also take a number as seconds since 1970."""
    if not isinstance(value, str) or value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise PydanticCustomError(
            "datetime_iso", "must be an ISO 8601 time, e.g. 2026-05-01T00:00:00Z"
        )
    return value


def _utc(t: datetime) -> datetime:
    try:
        return as_utc(t)
    except ValueError as exc:
        raise PydanticCustomError("datetime_range", str(exc)) from exc


Time = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_utc)]


def _unavailable(exc: StoreError) -> ApiError:
    return ApiError(status.HTTP_503_SERVICE_UNAVAILABLE, exc.message)


def history_router(history: HistoryStore, prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix)

    @router.get("/history", responses=RESPONSES)
    async def get_history(
        since: Time | None = None,
        until: Time | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        action: Literal["scale-up", "scale-down", "no-change"] | None = None,
        before: Annotated[
            int | None, Query(ge=1, le=MAX_ID, description="page: the last id seen")
        ] = None,
    ) -> dict[str, Any]:
        """Journaled decisions, newest first; pass `nextBefore` as `before` for the next page."""
        try:
            items = await asyncio.to_thread(
                history.checks,
                since=since,
                until=until,
                actions=(action,) if action else (),
                before_id=before,
                limit=limit,
            )
        except StoreError as exc:
            raise _unavailable(exc) from exc
        next_before = items[-1].id if len(items) == limit else None
        return {"items": [check_json(c) for c in items], "nextBefore": next_before}

    @router.get("/samples", responses=RESPONSES)
    async def get_samples(window: Literal["24h", "7d", "30d"] = "24h") -> dict[str, Any]:
        """Mailboxes, workers and capacity over the window (at most ~500 points), with scale events."""
        until = utc_now()
        since = until - WINDOWS[window]
        try:
            points = await asyncio.to_thread(history.samples, since, until)
            events = await asyncio.to_thread(history.scale_events, since, until)
        except StoreError as exc:
            raise _unavailable(exc) from exc
        return {
            "window": window,
            "since": iso(since),
            "until": iso(until),
            "points": [sample_json(p) for p in points],
            "events": [
                {
                    "t": iso(e.checked_at),
                    "action": e.action,
                    "from": e.current_workers,
                    "to": e.target_workers,
                    "reason": e.reason,
                }
                for e in reversed(events)
            ],
        }

    return router
