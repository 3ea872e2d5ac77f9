"""The controller with in-memory fakes: what a check executes, records and reports."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.settings import make_settings
from warmup_autoscaler.controller import Controller
from warmup_autoscaler.errors import CountError, PlatformError, StoreError
from warmup_autoscaler.store.state import CheckRecord, ScalerState
from warmup_autoscaler.wire import status_json

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class FakeCounter:
    def __init__(self, value: int | Exception) -> None:
        self.value = value

    def count(self) -> int:
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


class FakePlatform:
    name = "fake"

    def __init__(self, workers: int, fail_scale: bool = False) -> None:
        self.workers = workers
        self.fail_scale = fail_scale
        self.calls: list[int] = []

    def current_workers(self) -> int:
        return self.workers

    def scale_to(self, workers: int) -> None:
        self.calls.append(workers)
        if self.fail_scale:
            raise PlatformError("docker socket not found")
        self.workers = workers


class FakeJournal:
    def __init__(self, state: ScalerState | None = None, broken: bool = False) -> None:
        self.state = state or ScalerState(last_scale_up_at=None, last_scale_down_at=None)
        self.records: list[CheckRecord] = []
        self.broken = broken
        self.fences: list = []  # the term each save was fenced with

    def load(self) -> ScalerState:
        return self.state

    def save(self, state: ScalerState, fence=None) -> None:
        self.fences.append(fence)
        if self.broken:
            raise StoreError("database is locked")
        self.state = state

    def record_check(self, rec: CheckRecord) -> int:
        if self.broken:
            raise StoreError("database is locked")
        self.records.append(rec)
        return len(self.records)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def status_of(c: Controller) -> dict:
    """The status as the API serializes it, at the controller's own clock."""
    return status_json(c.status, c.clock())


def make(counter, platform, journal=None, clock=None, **env):
    settings = make_settings(local_worker_command="true", **env)
    return Controller(
        settings=settings,
        counter=counter,
        platform=platform,
        journal=journal or FakeJournal(),
        clock=clock or Clock(),
    )


def test_scale_up_is_executed_journaled_and_reported():
    """850 mailboxes on 1 worker: the platform is scaled to 2, journaled, and status shows it."""
    platform, journal = FakePlatform(1), FakeJournal()
    c = make(FakeCounter(850), platform, journal)
    result = asyncio.run(c.check("api"))
    assert result.executed and result.success
    assert result.message == "Scaling check complete: scale-up"
    assert platform.calls == [2]
    assert journal.state.last_scale_up_at == T0
    [rec] = journal.records
    assert (rec.action, rec.current_workers, rec.target_workers, rec.executed) == (
        "scale-up",
        1,
        2,
        True,
    )
    status = status_of(c)
    assert status["currentWorkers"] == 2
    assert status["utilizationPercent"] == 42.5
    assert status["canScaleUp"] is False
    assert status["cooldowns"]["scaleUpSecondsLeft"] == 300
    assert status["lastDecision"]["reason"] == "High utilization (85.0%) - adding worker"


def test_failed_count_scales_nothing_and_sets_last_error():
    """A failed count decides nothing, scales nothing, and shows the error in lastError."""
    platform, journal = FakePlatform(5), FakeJournal()
    c = make(FakeCounter(CountError("cannot connect to the database")), platform, journal)
    result = asyncio.run(c.check())
    assert result.decision is None and not result.success
    assert platform.calls == []
    assert status_of(c)["lastError"] == "cannot connect to the database"
    assert journal.records[0].error == "cannot connect to the database"


@settings(max_examples=50)
@given(workers=st.integers(0, 200), mailboxes_before=st.integers(0, 100_000))
def test_a_failed_count_never_scales_down(workers, mailboxes_before):
    """Whatever the fleet and the previous count, a failed count never removes a worker."""
    platform, counter = FakePlatform(workers), FakeCounter(mailboxes_before)
    c = make(counter, platform, scale_up_cooldown_ms=0, scale_down_cooldown_ms=0)
    asyncio.run(c.check())
    calls_before = list(platform.calls)
    counter.value = CountError("timeout")
    asyncio.run(c.check())
    assert platform.calls == calls_before


def test_failed_platform_call_keeps_cooldowns_and_reports():
    """A platform failure is journaled with the decision, not executed, and starts no cooldown."""
    platform, journal = FakePlatform(1, fail_scale=True), FakeJournal()
    c = make(FakeCounter(900), platform, journal)
    result = asyncio.run(c.check())
    assert not result.executed and result.error == "docker socket not found"
    assert result.decision is not None and result.decision.action.value == "scale-up"
    assert journal.state.last_scale_up_at is None
    assert status_of(c)["lastError"] == "docker socket not found"


def test_disabled_computes_but_never_executes():
    """AUTO_SCALER_ENABLED=false: the decision is reported but the platform is not touched."""
    platform = FakePlatform(1)
    c = make(FakeCounter(900), platform, enabled=False)
    result = asyncio.run(c.check())
    assert platform.calls == [] and not result.executed and result.success
    assert (
        result.message
        == "Scaling check complete: scale-up (not executed: AUTO_SCALER_ENABLED=false)"
    )


def test_cooldown_is_loaded_from_the_journal():
    """A restart keeps the cooldown: the last scale-up time comes from the stored state."""
    clock = Clock()
    journal = FakeJournal(
        ScalerState(last_scale_up_at=T0 - timedelta(minutes=2), last_scale_down_at=None)
    )
    platform = FakePlatform(2)
    c = make(FakeCounter(1800), platform, journal, clock)
    result = asyncio.run(c.check())
    assert platform.calls == []
    assert result.decision.reason == "High utilization (90.0%) but scale-up cooldown has 180s left"


def test_checks_never_overlap():
    """Concurrent checks run one after another: the second sees the first one's scale-up."""
    platform = FakePlatform(1)
    c = make(FakeCounter(850), platform, scale_up_cooldown_ms=0)

    async def both():
        return await asyncio.gather(c.check("interval"), c.check("api"))

    first, second = asyncio.run(both())
    assert first.decision.current_workers == 1 and second.decision.current_workers == 2
    assert platform.calls == [2]


def test_journal_outage_keeps_records_until_it_is_back():
    """While the journal is down, checks are kept in memory and written later, in order."""
    journal = FakeJournal(broken=True)
    c = make(FakeCounter(500), FakePlatform(1), journal)
    asyncio.run(c.check())
    asyncio.run(c.check())
    assert "could not write the journal (2 checks kept" in status_of(c)["lastError"]
    journal.broken = False
    asyncio.run(c.check())
    assert len(journal.records) == 3
    assert status_of(c)["lastError"] is None


class GatedJournal(FakeJournal):
    """A journal whose writes wait until the test opens the gate."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        import threading

        self.gate = threading.Event()

    def record_check(self, rec: CheckRecord) -> int:
        self.gate.wait(5)
        return super().record_check(rec)

    def save(self, state: ScalerState, fence=None) -> None:
        self.gate.wait(5)
        super().save(state, fence)


def test_deferred_journal_is_written_in_order_before_the_next_check():
    """The daemon's checks (wait_journal=False) return before their row is written; the next check
    waits for it, so rows keep their order and checks never overlap their writes."""
    journal = GatedJournal()
    c = make(FakeCounter(500), FakePlatform(1), journal)

    async def run():
        first = await c.check("interval", wait_journal=False)
        assert journal.records == []  # the write is waiting at the gate, the result is out
        assert status_of(c)["lastDecision"]["action"] == "no-change"
        second = asyncio.create_task(c.check("api", wait_journal=False))
        await asyncio.sleep(0.05)
        assert not second.done()  # waits for the first check's write
        journal.gate.set()
        await second
        await c.flush()
        return first

    asyncio.run(run())
    assert [r.trigger for r in journal.records] == ["interval", "api"]


def test_deferred_check_that_scaled_saves_its_cooldown_before_returning():
    """Even with wait_journal=False, a scaling action's cooldown is stored when check returns."""
    journal = FakeJournal()
    c = make(FakeCounter(850), FakePlatform(1), journal)

    async def run():
        result = await c.check("interval", wait_journal=False)
        return result, journal.state.last_scale_up_at, len(journal.records)

    result, stored_up, rows = asyncio.run(run())
    assert result.executed and stored_up == T0 and rows == 1


def test_deferred_journal_failure_shows_in_status_and_clears_when_back():
    """A failed deferred write sets lastError (in a new status); a later write clears it."""
    journal = FakeJournal(broken=True)
    c = make(FakeCounter(500), FakePlatform(1), journal)

    async def run():
        await c.check(wait_journal=False)
        before = c.status
        await c.flush()
        assert c.status is not before
        assert "could not write the journal (1 checks kept" in status_of(c)["lastError"]
        journal.broken = False
        await c.check(wait_journal=False)  # still reports the outage: its own row is queued
        assert "could not write the journal" in status_of(c)["lastError"]
        await c.flush()
        assert status_of(c)["lastError"] is None

    asyncio.run(run())
    assert len(journal.records) == 2


def test_failed_platform_read_names_its_step():
    """The count and the platform read share one thread hop; a failure still says which failed."""

    class BrokenRead(FakePlatform):
        def current_workers(self) -> int:
            raise PlatformError("kubectl: connection refused")

    result = asyncio.run(make(FakeCounter(500), BrokenRead(1)).check())
    assert (result.failed_step, result.error) == ("platform", "kubectl: connection refused")
    counted = asyncio.run(make(FakeCounter(CountError("no table")), BrokenRead(1)).check())
    assert (counted.failed_step, counted.error) == ("count", "no table")


def test_a_failed_check_keeps_its_own_error_over_the_journals():
    """When the count and the journal both fail, lastError says why the check failed."""
    journal = FakeJournal(broken=True)
    c = make(FakeCounter(CountError("cannot connect to the database")), FakePlatform(1), journal)
    asyncio.run(c.check(wait_journal=True))
    assert status_of(c)["lastError"] == "cannot connect to the database"
