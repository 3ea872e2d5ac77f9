"""Pause, resume and dry-run change what is executed and nothing else."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.unit.test_controller import (
    Clock,
    FakeCounter,
    FakeJournal,
    FakePlatform,
    make,
    status_of,
)
from warmup_autoscaler.errors import StoreError

COUNTS = [850, 1800, 3200, 3200, 1200, 400, 100, 2500]


def replay(**env):
    """Run the same checks (mailbox counts, 11 minutes apart) and return what each one decided."""
    clock, counter, platform, journal = Clock(), FakeCounter(0), FakePlatform(1), FakeJournal()
    c = make(counter, platform, journal, clock, **env)
    results = []
    for m in COUNTS:
        counter.value = m
        results.append(asyncio.run(c.check()))
        clock.now += timedelta(minutes=11)
    return c, platform, journal, results


def test_dry_run_decides_the_same_first_step_and_executes_nothing():
    """Dry-run makes the same decision as a live run and never calls the platform."""
    _, live_platform, _, live = replay()
    _, dry_platform, journal, dry = replay(dry_run=True)
    assert live[0].decision == dry[0].decision
    assert dry_platform.calls == [] and live_platform.calls
    assert all(not r.executed for r in dry)
    acted = [r for r in dry if r.decision.action.value != "no-change"]
    assert acted and all(r.skipped == "dry-run" for r in acted)
    assert all(rec.skipped in (None, "dry-run") for rec in journal.records)
    assert len(journal.records) == len(COUNTS)
    assert "(not executed: dry run, AUTO_SCALER_DRY_RUN=true)" in acted[0].message


def test_dry_run_with_a_fixed_fleet_matches_live_decisions_on_that_fleet():
    """With the fleet held still, dry-run and live (on a platform that ignores scaling) agree."""

    class Stuck(FakePlatform):
        def scale_to(self, workers: int) -> None:
            self.calls.append(workers)

    def run(**env):
        clock, counter = Clock(), FakeCounter(0)
        c = make(counter, Stuck(2), FakeJournal(), clock, **env)
        out = []
        for m in COUNTS:
            counter.value = m
            out.append(asyncio.run(c.check()).decision)
            clock.now += timedelta(minutes=11)
        return out

    assert run() == run(dry_run=True)


def test_pause_holds_execution_until_resumed():
    """While paused, decisions are journaled but not executed; resume executes again."""
    clock, platform = Clock(), FakePlatform(1)
    c = make(FakeCounter(850), platform, FakeJournal(), clock)
    asyncio.run(c.pause(minutes=None, reason="maintenance"))
    held = asyncio.run(c.check())
    assert held.decision.action.value == "scale-up"
    assert (held.executed, held.skipped, platform.calls) == (False, "paused", [])
    status = status_of(c)
    assert status["paused"] == {"paused": True, "until": None, "reason": "maintenance"}
    asyncio.run(c.resume())
    done = asyncio.run(c.check())
    assert done.executed and platform.calls == [2]
    assert status_of(c)["paused"]["paused"] is False


def test_timed_pause_expires_by_itself():
    """A pause for N minutes ends on its own once the clock passes it."""
    clock, platform = Clock(), FakePlatform(1)
    c = make(FakeCounter(850), platform, FakeJournal(), clock)
    asyncio.run(c.pause(minutes=30, reason=None))
    assert asyncio.run(c.check()).skipped == "paused"
    clock.now += timedelta(minutes=31)
    assert asyncio.run(c.check()).executed


def test_pause_is_persisted():
    """The pause is saved with the state, so a restarted daemon stays paused."""
    journal = FakeJournal()
    c = make(FakeCounter(850), FakePlatform(1), journal)
    asyncio.run(c.pause(minutes=None, reason="deploy"))
    assert journal.state.paused_at is not None and journal.state.pause_reason == "deploy"
    restarted = make(FakeCounter(850), FakePlatform(1), journal)
    assert asyncio.run(restarted.check()).skipped == "paused"


def test_a_pause_that_cannot_be_saved_changes_nothing():
    """Persist, then swap: when the pause cannot be stored, pause raises and nothing is paused."""
    journal = FakeJournal()
    c = make(FakeCounter(850), FakePlatform(1), journal)
    asyncio.run(c.check())
    journal.broken = True
    with pytest.raises(StoreError, match="database is locked"):
        asyncio.run(c.pause(minutes=None, reason="deploy"))
    assert status_of(c)["paused"] == {"paused": False, "until": None, "reason": None}
    assert c.state.paused_at is None


def test_a_resume_that_cannot_be_saved_keeps_the_pause():
    """Persist, then swap: when the resume cannot be stored, the daemon stays paused, as stored."""
    clock, platform, journal = Clock(), FakePlatform(1), FakeJournal()
    c = make(FakeCounter(850), platform, journal, clock)
    asyncio.run(c.pause(minutes=None, reason="deploy"))
    journal.broken = True
    with pytest.raises(StoreError):
        asyncio.run(c.resume())
    assert status_of(c)["paused"]["paused"] is True
    journal.broken = False
    assert asyncio.run(c.check()).skipped == "paused" and platform.calls == []
