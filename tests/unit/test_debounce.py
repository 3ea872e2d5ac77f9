"""Debounced change checks: at once after a quiet spell, at most one per window, none lost."""

from __future__ import annotations

import asyncio
import math
import time

from warmup_autoscaler.watch.reaction import DebouncedChecks

DEBOUNCE_MS = 100


class Recorder:
    """A stand-in check that records when it starts and can be held until released."""

    def __init__(self) -> None:
        self.started: list[float] = []
        self.finished = 0
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self) -> None:
        self.started.append(time.monotonic())
        await self.release.wait()
        self.finished += 1


async def until(predicate, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


async def started(debounce_ms: int = DEBOUNCE_MS):
    check = Recorder()
    checks = DebouncedChecks(check, debounce_ms)
    stop = asyncio.Event()
    task = asyncio.create_task(checks.run(stop))
    return check, checks, stop, task


def test_first_change_checks_at_once_and_nothing_without_changes():
    """No change, no check; the first change after a quiet spell starts one check."""

    async def scenario():
        check, checks, stop, task = await started()
        await asyncio.sleep(0)
        assert check.started == []
        checks.notify()
        await until(lambda: check.finished == 1, "the first check")
        stop.set()
        await task
        assert len(check.started) == 1

    asyncio.run(scenario())


def test_changes_during_a_running_check_bring_exactly_one_more():
    """However many changes arrive while a check runs, they bring one more check, not more."""

    async def scenario():
        check, checks, stop, task = await started()
        check.release.clear()
        checks.notify()
        await until(lambda: len(check.started) == 1, "the first check to start")
        for _ in range(50):
            checks.notify()
        check.release.set()
        await until(lambda: check.finished == 2, "the second check")
        stop.set()
        await task
        assert len(check.started) == 2
        assert checks.changes == 51

    asyncio.run(scenario())


def test_a_burst_is_bounded_by_its_length_and_the_last_change_is_covered():
    """Changes every 5 ms for 0.55 s: at most one check per window (+1 for the one after the
    window the burst ends in), and a check starts after the last change."""

    async def scenario():
        check, checks, stop, task = await started()
        first = time.monotonic()
        while time.monotonic() - first < 0.55:
            checks.notify()
            await asyncio.sleep(0.005)
        last = time.monotonic()
        await until(lambda: check.started and check.started[-1] >= last, "a check after the last")
        await until(lambda: not checks._changed.is_set(), "no change left pending")
        stop.set()
        await task
        bound = math.floor((last - first) / (DEBOUNCE_MS / 1000)) + 2
        assert 2 <= len(check.started) <= bound, (len(check.started), bound)
        assert checks.changes > 50

    asyncio.run(scenario())


def test_stop_during_a_window_starts_no_check():
    """A change waiting out its window is dropped when the daemon stops."""

    async def scenario():
        check, checks, stop, task = await started(debounce_ms=60_000)
        checks.notify()
        await until(lambda: check.finished == 1, "the first check")
        checks.notify()
        await asyncio.sleep(0)
        stop.set()
        await task
        assert len(check.started) == 1

    asyncio.run(scenario())


def test_stop_during_a_check_lets_it_finish():
    """Stopping never cuts a running check in half: run() returns after it ends."""

    async def scenario():
        check, checks, stop, task = await started()
        check.release.clear()
        checks.notify()
        await until(lambda: len(check.started) == 1, "the check to start")
        stop.set()
        await asyncio.sleep(0.01)
        assert not task.done()
        check.release.set()
        await task
        assert check.finished == 1

    asyncio.run(scenario())


def test_a_failing_check_does_not_end_the_reaction():
    """An unexpected error in one check is logged, and the next change still gets a check."""

    async def scenario():
        calls = []

        async def flaky() -> None:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("boom")

        checks = DebouncedChecks(flaky, DEBOUNCE_MS)
        stop = asyncio.Event()
        task = asyncio.create_task(checks.run(stop))
        checks.notify()
        await until(lambda: len(calls) == 1, "the failing check")
        checks.notify()
        await until(lambda: len(calls) == 2, "the next check")
        stop.set()
        await task

    asyncio.run(scenario())
