"""The daemon's read of the mailboxes a safety stop paused, turned into the `mailboxes_paused`
alert once per check (one cheap indexed query; nothing when the warmup tables do not exist)."""

from __future__ import annotations

import asyncio

from warmup_autoscaler.alerts import Alerting
from warmup_autoscaler.controller import utc_now
from warmup_autoscaler.errors import AutoscalerError
from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.warmup.store import AccountStore

__all__ = ["paused_mailbox_alerts"]

log = get_logger("warmup_autoscaler.warmup")


async def paused_mailbox_alerts(db: Database, alerting: Alerting) -> None:
    """Fire, repeat or resolve `mailboxes_paused` from the current safety pauses (the daemon
    calls it before each check, so the check's status shows the alert)."""
    try:
        paused = await asyncio.to_thread(AccountStore(db).safety_paused)
    except AutoscalerError as exc:
        log.debug("paused_mailboxes_unread", error=exc.message)
        return
    events = alerting.engine.evaluate_paused_mailboxes(paused, utc_now())
    if events:
        alerting.dispatcher.dispatch(events)
