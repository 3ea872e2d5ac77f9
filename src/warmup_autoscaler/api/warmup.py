"""`/api/warmup/...`: the warmup pool's mailboxes, their settings and deliverability figures.
Read-only; passwords never leave the database (not even encrypted)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Path, status

from warmup_autoscaler.api.errors import ApiError
from warmup_autoscaler.api.history import MAX_ID, RESPONSES
from warmup_autoscaler.errors import StoreError
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.warmup.stats import Figures, figures
from warmup_autoscaler.warmup.store import AccountStore

__all__ = ["warmup_router"]

PREFIX = "/api/warmup"


def _unavailable(exc: StoreError) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, exc.message)


def warmup_router(db: Database) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["warmup"])
    store = AccountStore(db)

    def read_all() -> dict[str, Any]:
        accounts = store.all()
        per, total = figures(db)
        return {
            "pool": {
                **total.to_dict(),
                "mailboxes": len(accounts),
                "paused": sum(a.paused_reason is not None for a in accounts),
            },
            "mailboxes": [
                {**a.public_dict(), "figures": per.get(a.mailbox_id, Figures()).to_dict()}
                for a in accounts
            ],
        }

    def read_one(mailbox_id: int) -> dict[str, Any] | None:
        account = store.get(mailbox_id)
        if account is None:
            return None
        per, _ = figures(db, mailbox_id)
        return {**account.public_dict(), "figures": per.get(mailbox_id, Figures()).to_dict()}

    @router.get("/mailboxes", responses=RESPONSES)
    async def list_mailboxes() -> dict[str, Any]:
        """Every warmup mailbox with its settings and 7-day figures, and the pool's totals."""
        try:
            return await asyncio.to_thread(read_all)
        except StoreError as exc:
            raise _unavailable(exc) from exc

    @router.get(
        "/mailboxes/{mailbox_id}",
        responses={**RESPONSES, 404: {"description": "No warmup account for this mailbox"}},
    )
    async def get_mailbox(mailbox_id: int = Path(ge=1, le=MAX_ID)) -> dict[str, Any]:
        """One warmup mailbox: settings, safety state and 7-day figures."""
        try:
            found = await asyncio.to_thread(read_one, mailbox_id)
        except StoreError as exc:
            raise _unavailable(exc) from exc
        if found is None:
            raise ApiError(
                status.HTTP_404_NOT_FOUND,
                f"mailbox {mailbox_id} has no warmup account; add it with "
                "`warmup-autoscaler mailbox add` or `mailbox import`",
                field="mailbox_id",
            )
        return found

    return router
