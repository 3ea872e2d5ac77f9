"""The daemon's hooks for tracking mode and predictive scaling (a room beside the controller).

`Foresight.build` makes the `Outlook` the controller passes to the policy, preloaded with the
stored samples (a restart does not blind it) and the measured scale-up lead time. `observe`, a
controller observer, times every executed scale-up: from the check that ordered it to the worker
registry showing that many live workers (polled every `POLL_S`, given up after `GIVE_UP`), stores
it, and gives the outlook the new typical lead time. Lead times are measured whatever the mode, so
they are there when predictive scaling is turned on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from warmup_autoscaler.alerts.growth import Sample
from warmup_autoscaler.config import Settings
from warmup_autoscaler.errors import AutoscalerError
from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.outlook import DEFAULT_LEAD_TIME, Outlook, needs_outlook
from warmup_autoscaler.policy import Action
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.history import HistoryStore
from warmup_autoscaler.store.lead_times import LeadTime, LeadTimeStore

if TYPE_CHECKING:
    from warmup_autoscaler.status import CheckResult

__all__ = ["GIVE_UP", "POLL_S", "Foresight"]

log = get_logger("warmup_autoscaler.foresight")

POLL_S = 1.0
GIVE_UP = timedelta(minutes=10)


class Foresight:
    def __init__(
        self,
        *,
        outlook: Outlook | None,
        lead_times: LeadTimeStore,
        live_workers: Callable[[], int],
        clock: Callable[[], datetime],
        fixed_lead: bool = False,
    ) -> None:
        self.outlook = outlook
        self._store = lead_times
        self._live = live_workers
        self._clock = clock
        self._fixed_lead = fixed_lead  # AUTO_SCALER_SCALE_UP_LEAD_TIME_MS is set
        self._watch: asyncio.Task[LeadTime | None] | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        history: HistoryStore,
        *,
        live_workers: Callable[[], int],
        clock: Callable[[], datetime],
    ) -> Foresight:
        cfg = settings.policy.to_policy()
        store = LeadTimeStore(db)
        outlook = None
        if needs_outlook(cfg):
            outlook = Outlook(
                cfg,
                forecast_window=timedelta(milliseconds=settings.policy.predictive_window_ms),
                check_interval=timedelta(milliseconds=settings.daemon.check_interval_ms),
                lead_time=_lead_time(settings, store),
            )
            _preload(outlook, history, clock())
        return cls(
            outlook=outlook,
            lead_times=store,
            live_workers=live_workers,
            clock=clock,
            fixed_lead=settings.policy.scale_up_lead_time_ms is not None,
        )

    def observe(self, result: CheckResult) -> None:
        """Start timing an executed scale-up (a newer one replaces the one being timed)."""
        d = result.decision
        if d is None or not result.executed or d.action is not Action.SCALE_UP:
            return
        if self._watch is not None:
            self._watch.cancel()
        measuring = LeadTime(
            scaled_at=result.checked_at,
            ready_at=result.checked_at,
            from_workers=d.current_workers,
            to_workers=d.target_workers,
        )
        self._watch = asyncio.get_running_loop().create_task(self.measure(measuring))

    async def measure(self, scale_up: LeadTime) -> LeadTime | None:
        """Poll the registry until it shows `to_workers` live workers; store the lead time."""
        deadline = time.monotonic() + GIVE_UP.total_seconds()
        while time.monotonic() < deadline:
            try:
                live = await asyncio.to_thread(self._live)
            except AutoscalerError as exc:
                log.debug("lead_time_poll_failed", error=exc.message)
                live = -1
            if live >= scale_up.to_workers:
                done = LeadTime(
                    scaled_at=scale_up.scaled_at,
                    ready_at=self._clock(),
                    from_workers=scale_up.from_workers,
                    to_workers=scale_up.to_workers,
                )
                await asyncio.to_thread(self._record, done)
                return done
            await asyncio.sleep(POLL_S)
        log.info(
            "lead_time_not_measured",
            toWorkers=scale_up.to_workers,
            reason=f"the registry did not show them live within {GIVE_UP}",
        )
        return None

    def _record(self, measured: LeadTime) -> None:
        try:
            self._store.record(measured)
            typical = self._store.typical()
        except AutoscalerError as exc:
            log.warning("lead_time_not_stored", error=exc.message)
            return
        log.info(
            "lead_time",
            leadMs=round(measured.lead.total_seconds() * 1000),
            typicalMs=None if typical is None else round(typical.total_seconds() * 1000),
        )
        if self.outlook is not None and typical is not None and not self._fixed_lead:
            self.outlook.lead_time = typical


def _lead_time(settings: Settings, store: LeadTimeStore) -> timedelta:
    fixed = settings.policy.scale_up_lead_time_ms
    if fixed is not None:
        return timedelta(milliseconds=fixed)
    try:
        return store.typical() or DEFAULT_LEAD_TIME
    except AutoscalerError as exc:  # first start: the tables come with the first check
        log.info("lead_time_default", error=exc.message)
        return DEFAULT_LEAD_TIME


def _preload(outlook: Outlook, history: HistoryStore, now: datetime) -> None:
    since = now - max(outlook.forecast_window, outlook.cfg.scale_down_stabilization)
    try:
        stored = history.samples(since, now, max_points=2000)
    except AutoscalerError as exc:
        log.info("outlook_preload_skipped", error=exc.message)
        return
    outlook.preload(
        Sample(at=s.sampled_at, mailboxes=s.mailboxes) for s in stored if s.mailboxes is not None
    )
