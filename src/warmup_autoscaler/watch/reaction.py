"""Debounced `change` checks in the daemon's event loop, fed by the watcher thread.

The first change after a quiet spell starts a check at once. Changes arriving while that check
runs, or within `AUTO_SCALER_REACT_DEBOUNCE_MS` after it ended, schedule one more check when that
window ends, however many they are: at least a window between two `change` checks, so at most one
per window, and no change is left without a check after it. Windows count from a check's end, so
a slow check (a long count) still leaves the database a full window of rest.
Interval checks go on as before, and no check overlaps another (the controller's lock, which is
taken only for the check itself, never while waiting out a window).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from warmup_autoscaler.config import Settings
from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.sensor import MailboxCounter
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.watch.watcher import ChangeWatcher

__all__ = ["CHANGE_TRIGGER", "DebouncedChecks", "Reaction", "react_to_changes"]

log = get_logger("warmup_autoscaler.watch")

CHANGE_TRIGGER = "change"  # the journal's trigger word for these checks


class Checker(Protocol):
    def check(self, trigger: str, *, wait_journal: bool = ...) -> Awaitable[Any]: ...


class DebouncedChecks:
    """Runs `check()` on `notify()`, at most once per `debounce_ms` (see the module's docstring)."""

    def __init__(
        self,
        check: Callable[[], Awaitable[Any]],
        debounce_ms: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._debounce_s = debounce_ms / 1000
        self._clock = clock
        self._changed = asyncio.Event()
        self.changes = 0  # notifications received
        self.checks = 0  # checks started

    def notify(self) -> None:
        """A change was seen; call on the event loop's thread."""
        self.changes += 1
        self._changed.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; a check already started is finished first."""
        next_at = float("-inf")
        while not stop.is_set():
            await _either(self._changed, stop)
            delay = next_at - self._clock()
            if delay > 0 and not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
            self._changed.clear()  # changes from here on are not covered: they set it again
            self.checks += 1
            try:
                await self._check()
            except Exception:  # a failing check must not end the reaction to changes
                log.exception("change_check_failed")
            next_at = self._clock() + self._debounce_s


class Reaction:
    """The watcher thread and the debounced checks of one daemon; `close()` stops both."""

    def __init__(
        self,
        watcher: ChangeWatcher | None = None,
        checks: DebouncedChecks | None = None,
        task: asyncio.Task[None] | None = None,
    ) -> None:
        self.watcher = watcher
        self.checks = checks
        self._task = task

    async def close(self) -> None:
        if self.watcher is not None:
            await asyncio.to_thread(self.watcher.stop)
        if self._task is not None:
            await self._task


def react_to_changes(
    settings: Settings, db: Database, controller: Checker, stop: asyncio.Event
) -> Reaction:
    """Start watching when `AUTO_SCALER_REACT_ON_CHANGE=true` (else a Reaction doing nothing)."""
    react = settings.react
    if not react.on_change:
        return Reaction()
    loop = asyncio.get_running_loop()
    checks = DebouncedChecks(
        lambda: controller.check(CHANGE_TRIGGER, wait_journal=False), react.debounce_ms
    )

    def on_change() -> None:  # on the watcher's thread
        with contextlib.suppress(RuntimeError):  # the loop has closed: the daemon is stopping
            loop.call_soon_threadsafe(checks.notify)

    watcher = ChangeWatcher(
        db=db,
        table=react.table_name,
        method=react.method,
        probe_interval_ms=react.probe_interval_ms,
        count=MailboxCounter(db, settings.database.mailbox_query).count,
        on_change=on_change,
    )
    watcher.start()
    return Reaction(watcher, checks, asyncio.create_task(checks.run(stop)))


async def _either(first: asyncio.Event, second: asyncio.Event) -> None:
    """Wait until either event is set."""
    waits = [asyncio.ensure_future(event.wait()) for event in (first, second)]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
