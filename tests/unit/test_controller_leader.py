"""The controller under an election: only the leader checks, and every action is fenced."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.support.settings import make_settings
from tests.unit.test_controller import (
    T0,
    Clock,
    FakeCounter,
    FakeJournal,
    FakePlatform,
    make,
    status_of,
)
from warmup_autoscaler.controller import Controller
from warmup_autoscaler.errors import NotLeaderError
from warmup_autoscaler.journal import check_record
from warmup_autoscaler.status import LeaderView
from warmup_autoscaler.store.leader import Term
from warmup_autoscaler.store.state import CheckRecord, ScalerState


class FakeLeadership:
    """This instance leads in `term` (None: a standby of `leader`)."""

    def __init__(
        self, instance: str = "a", term: int | None = 1, leader: str = "b", error: str | None = None
    ) -> None:
        self.instance = instance
        self.term = Term(instance=instance, number=term) if term else None
        self.leader = leader
        self.error = error

    def current(self) -> Term | None:
        return self.term

    def view(self) -> LeaderView:
        leading = self.term is not None
        return LeaderView(
            role="leader" if leading else "standby",
            instance=self.instance,
            term=self.term.number if self.term else 7,
            leader_instance=self.instance if leading else self.leader,
            error=self.error,
        )


class FencedJournal(FakeJournal):
    """A journal whose fenced saves pass only for the lease's current term (`leading`)."""

    def __init__(self, leading: Term | None, **kw) -> None:
        super().__init__(**kw)
        self.leading = leading

    def save(self, state: ScalerState, fence=None) -> None:
        if fence is not None and fence != self.leading:
            raise NotLeaderError(f"instance {fence.instance} no longer leads")
        super().save(state, fence)


def controller(leadership, journal=None, platform=None, counter=None, clock=None, **env):
    return Controller(
        settings=make_settings(local_worker_command="true", **env),
        counter=counter or FakeCounter(850),
        platform=platform or FakePlatform(1),
        journal=journal if journal is not None else FencedJournal(leadership.term),
        clock=clock or Clock(),
        leadership=leadership,
    )


def test_a_standby_neither_checks_nor_pauses():
    """On a standby, check, pause and resume raise NotLeaderError naming the leader; nothing is
    counted, scaled, stored or journaled."""
    journal, platform = FakeJournal(), FakePlatform(1)
    c = controller(FakeLeadership(term=None, leader="b"), journal, platform)
    for call in (c.check("api"), c.pause(minutes=None, reason=None), c.resume()):
        with pytest.raises(NotLeaderError) as caught:
            asyncio.run(call)
        assert caught.value.message == (
            "this auto-scaler (a) is a standby: b leads (term 7); "
            "send trigger, pause and resume to the leader"
        )
    assert (journal.records, journal.fences, platform.calls) == ([], [], [])
    assert status_of(c)["leader"] == {
        "role": "standby",
        "instance": "a",
        "term": 7,
        "leaderInstance": "b",
        "leaseExpiresInMs": None,
        "error": None,
    }


def test_the_leader_fences_its_action_and_names_its_term():
    """The leader records the action under its term before scaling; the journal row and the
    status name the instance and the term."""
    leadership = FakeLeadership(instance="a", term=3)
    journal, platform = FencedJournal(leadership.term), FakePlatform(1)
    c = controller(leadership, journal, platform)
    result = asyncio.run(c.check("api"))
    assert result.executed and platform.calls == [2]
    assert journal.fences == [leadership.term]
    assert journal.state.last_scale_up_at == T0 and journal.state.workers == 2
    [row] = journal.records
    assert (row.instance, row.term) == ("a", 3)
    last = status_of(c)["lastDecision"]
    assert (last["instance"], last["term"]) == ("a", 3)
    assert status_of(c)["leader"]["role"] == "leader"


def test_a_deposed_leader_cannot_scale():
    """When the term has passed to another instance by the time the action is recorded, the
    platform is never called, the cooldowns are untouched and the check says not-leader."""
    leadership = FakeLeadership(instance="a", term=3)
    journal = FencedJournal(Term(instance="b", number=4))
    platform = FakePlatform(1)
    c = controller(leadership, journal, platform)
    result = asyncio.run(c.check())
    assert platform.calls == []
    assert (result.executed, result.skipped, result.error) == (False, "not-leader", None)
    assert result.message == (
        "Scaling check complete: scale-up "
        "(not executed: this instance lost the leadership before scaling)"
    )
    assert journal.state.last_scale_up_at is None and c.state.last_scale_up_at is None
    assert journal.records[0].skipped == "not-leader"


def test_a_lease_that_runs_out_between_the_record_and_the_call_stops_the_call():
    """The leader asks its own clock again after the fenced record: a lease that may have run out
    meanwhile (the process was frozen there) means no platform call."""

    class Lapsing(FakeLeadership):
        calls = 0

        def current(self) -> Term | None:
            self.calls += 1
            return self.term if self.calls == 1 else None

    leadership = Lapsing(term=3)
    platform = FakePlatform(1)
    result = asyncio.run(controller(leadership, platform=platform).check())
    assert platform.calls == [] and result.skipped == "not-leader"


def test_a_new_term_reads_the_stored_state_again():
    """Cooldowns another leader stored meanwhile are read when this instance leads again."""
    clock = Clock()
    leadership = FakeLeadership(instance="a", term=1)
    journal = FencedJournal(leadership.term)
    counter = FakeCounter(1800)
    c = controller(leadership, journal, FakePlatform(2), counter, clock)
    assert asyncio.run(c.check()).executed  # 90% on 2: up to 3
    counter.value = 2700  # 90% on 3
    clock.now += timedelta(minutes=10)
    journal.state = ScalerState(last_scale_up_at=clock.now, last_scale_down_at=None)  # by b
    leadership.term = journal.leading = Term(instance="a", number=3)
    result = asyncio.run(c.check())
    assert result.decision.reason == "High utilization (90.0%) but scale-up cooldown has 300s left"


def test_a_failed_scale_call_puts_the_cooldown_back():
    """The action's record is undone when the platform refuses: no cooldown starts."""
    leadership = FakeLeadership(term=2)
    journal = FencedJournal(leadership.term)
    c = controller(leadership, journal, FakePlatform(1, fail_scale=True))
    result = asyncio.run(c.check())
    assert (result.failed_step, result.error) == ("scale", "docker socket not found")
    assert journal.state.last_scale_up_at is None and journal.fences == [leadership.term] * 2


def test_a_failed_record_scales_nothing():
    """When the action cannot be recorded (database down), the platform is not called."""
    leadership = FakeLeadership(term=2)
    journal = FencedJournal(leadership.term, broken=True)
    platform = FakePlatform(1)
    result = asyncio.run(controller(leadership, journal, platform).check())
    assert platform.calls == []
    assert (result.failed_step, result.error) == ("record", "database is locked")


def test_a_dry_run_shadow_checks_without_a_term_and_cannot_pause():
    """A dry-run instance, which takes no part in the election, checks and journals without a
    term, and refuses to pause (that is the leader's)."""
    journal = FakeJournal()
    c = controller(FakeLeadership(instance="s", term=None), journal, dry_run=True)
    result = asyncio.run(c.check())
    assert result.skipped == "dry-run" and (result.instance, result.term) == ("s", None)
    assert (journal.records[0].instance, journal.records[0].term) == ("s", None)
    with pytest.raises(NotLeaderError):
        asyncio.run(c.pause(minutes=5, reason=None))


def test_a_deposed_leader_stops_the_workers_it_supervises():
    """On the local platform a leader that lost its lease stops its own workers; the new leader
    runs the fleet. On other platforms it touches nothing."""
    platform = FakePlatform(3)
    supervising = Controller(
        settings=make_settings(local_worker_command="true"),
        counter=FakeCounter(850),
        platform=platform,
        journal=FakeJournal(),
        clock=Clock(),
        resume_fleet=True,
        leadership=FakeLeadership(term=None),
    )
    asyncio.run(supervising.stand_down())
    assert platform.calls == [0]
    shared = FakePlatform(3)
    asyncio.run(controller(FakeLeadership(term=None), platform=shared).stand_down())
    assert shared.calls == []


def test_a_new_leader_resumes_the_supervised_fleet_under_its_term():
    """On the local platform the new leader starts the stored worker count, fenced by its term."""
    leadership = FakeLeadership(term=5)
    journal = FencedJournal(
        leadership.term,
        state=ScalerState(last_scale_up_at=None, last_scale_down_at=None, workers=2),
    )
    platform = FakePlatform(0)
    c = Controller(
        settings=make_settings(local_worker_command="true"),
        counter=FakeCounter(1500),
        platform=platform,
        journal=journal,
        clock=Clock(),
        resume_fleet=True,
        leadership=leadership,
    )
    asyncio.run(c.check())
    assert platform.calls[0] == 2 and journal.fences[0] == leadership.term


def test_a_standby_shows_the_leaders_last_checks():
    """A standby's status shows the leader's stored state and last decision from the journal,
    with the leader's instance and term; a leader ignores what it is shown."""
    leader_journal = FakeJournal()
    ran = make(FakeCounter(850), FakePlatform(1), leader_journal)
    asyncio.run(ran.check("interval"))
    scaled = replace(leader_journal.records[0], instance="b", term=7)
    failed = CheckRecord(checked_at=T0, trigger="interval", error="timeout", instance="b", term=7)
    standby = controller(FakeLeadership(instance="a", term=None), FakeJournal())
    standby.follow(leader_journal.state, [failed, scaled], None)
    status = status_of(standby)
    assert (status["currentWorkers"], status["mailboxCount"]) == (2, 850)
    assert status["lastError"] == "timeout"
    assert status["lastScaleUpAt"] == "2026-03-01T09:00:00Z"
    last = status["lastDecision"]
    assert (last["action"], last["instance"], last["term"], last["executed"]) == (
        "scale-up",
        "b",
        7,
        True,
    )
    assert check_record(standby.last_decision) == scaled
    leading = controller(FakeLeadership(instance="a", term=1))
    leading.follow(leader_journal.state, [scaled], None)
    assert leading.last is None


def test_a_standby_that_cannot_reach_the_database_says_so():
    """lastError on a standby whose election fails names the database error."""
    error = "cannot connect to the database at postgresql+psycopg://u:***@h/db: refused"
    c = controller(FakeLeadership(term=None, error=error))
    assert status_of(c)["lastError"] == error and status_of(c)["leader"]["error"] == error
