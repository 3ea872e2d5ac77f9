"""The daemon's foresight hooks on a real database: scale-up lead times timed against the real
worker registry and stored, and the outlook preloaded from stored samples and lead times."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.settings import make_settings
from warmup_autoscaler import foresight
from warmup_autoscaler.config import Settings
from warmup_autoscaler.foresight import Foresight
from warmup_autoscaler.outlook import DEFAULT_LEAD_TIME
from warmup_autoscaler.policy import Action, Decision
from warmup_autoscaler.status import CheckResult
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.history import HistoryStore, SampleRecord
from warmup_autoscaler.store.lead_times import KEEP_LEAD_TIMES, LeadTime, LeadTimeStore
from warmup_autoscaler.store.migrate import upgrade
from warmup_autoscaler.store.registry import ACTIVE, Registry, WorkerIdentity
from warmup_autoscaler.store.workers import count_live_workers

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TTL_MS = 30_000


@pytest.fixture
def migrated(db: Database) -> Database:
    upgrade(db)
    return db


def settings(**env: object) -> Settings:
    return make_settings(local_worker_command="true", **env)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_lead_times_keep_the_newest_and_give_their_median(migrated: Database):
    """The typical lead time is the median of the newest ten; only the newest 100 are kept."""
    store = LeadTimeStore(migrated)
    assert store.typical() is None
    for seconds in range(1, KEEP_LEAD_TIMES + 6):
        store.record(
            LeadTime(
                scaled_at=T0,
                ready_at=T0 + timedelta(seconds=seconds),
                from_workers=1,
                to_workers=2,
            )
        )
    assert len(store.recent(limit=1000)) == KEEP_LEAD_TIMES
    assert store.typical() == timedelta(seconds=100.5)  # the median of 96..105


def scale_up(at: datetime, executed: bool = True, to: int = 3) -> CheckResult:
    decision = Decision(
        action=Action.SCALE_UP,
        current_workers=to - 1,
        target_workers=to,
        reason="High utilization (85.0%) - adding worker",
        mailbox_count=1700,
        utilization_percent=85.0,
        optimal_workers=to,
    )
    return CheckResult(
        checked_at=at,
        trigger="interval",
        decision=decision,
        executed=executed,
        error=None,
        duration_ms=1.0,
    )


def test_a_scale_up_is_timed_until_the_registry_shows_its_workers(migrated, monkeypatch):
    """2 -> 3 workers: the third worker registers on the third poll of the real registry; the
    lead time from the check to that poll is stored and becomes the outlook's lead time."""
    monkeypatch.setattr(foresight, "POLL_S", 0.0)
    registry = Registry(migrated, lease_ttl_ms=TTL_MS)
    for i in range(2):
        registry.join(WorkerIdentity.create(name=f"w{i}"), ACTIVE)
    clock, polls = Clock(), []

    def live() -> int:
        polls.append(clock.now)
        clock.now += timedelta(seconds=7)
        if len(polls) == 3:
            registry.join(WorkerIdentity.create(name="w2"), ACTIVE)
        return count_live_workers(migrated, TTL_MS)

    history = HistoryStore(migrated)
    hooks = Foresight.build(
        settings(predictive=True), migrated, history, live_workers=live, clock=clock
    )
    assert hooks.outlook is not None and hooks.outlook.lead_time == DEFAULT_LEAD_TIME

    async def observe_and_wait() -> LeadTime | None:
        hooks.observe(scale_up(T0))
        hooks.observe(scale_up(T0, executed=False))  # not executed: not timed, nothing replaced
        assert hooks._watch is not None
        return await hooks._watch

    measured = asyncio.run(observe_and_wait())
    assert measured is not None and measured.lead == timedelta(seconds=21)
    assert LeadTimeStore(migrated).recent() == [timedelta(seconds=21)]
    assert hooks.outlook.lead_time == timedelta(seconds=21)


def test_a_fixed_lead_time_setting_wins_over_measurements(migrated):
    """AUTO_SCALER_SCALE_UP_LEAD_TIME_MS set: the outlook uses it, whatever is measured."""
    LeadTimeStore(migrated).record(
        LeadTime(scaled_at=T0, ready_at=T0 + timedelta(seconds=40), from_workers=1, to_workers=2)
    )
    history = HistoryStore(migrated)
    fixed = Foresight.build(
        settings(predictive=True, scale_up_lead_time_ms=90_000),
        migrated,
        history,
        live_workers=lambda: 0,
        clock=Clock(),
    )
    measured = Foresight.build(
        settings(predictive=True), migrated, history, live_workers=lambda: 0, clock=Clock()
    )
    assert fixed.outlook is not None and fixed.outlook.lead_time == timedelta(seconds=90)
    assert measured.outlook is not None and measured.outlook.lead_time == timedelta(seconds=40)


def test_the_outlook_starts_with_the_stored_samples(migrated):
    """After a restart, the stabilization window still holds the peak stored 20 min before."""
    history = HistoryStore(migrated)
    for minutes, count in ((20, 4400), (10, 2000), (5, 2000)):
        history.record_sample(
            SampleRecord(
                sampled_at=T0 - timedelta(minutes=minutes),
                mailboxes=count,
                workers=6,
                capacity=6000,
                utilization_percent=None,
            )
        )
    clock = Clock()
    hooks = Foresight.build(
        settings(scaling_mode="tracking"), migrated, history, live_workers=lambda: 0, clock=clock
    )
    assert hooks.outlook is not None
    assert hooks.outlook.inputs(T0, 2000).window_peak == 4400


def test_step_mode_without_prediction_has_no_outlook(migrated):
    """The default settings decide on the count alone; scale-ups are still timed."""
    hooks = Foresight.build(
        settings(), migrated, HistoryStore(migrated), live_workers=lambda: 0, clock=Clock()
    )
    assert hooks.outlook is None
