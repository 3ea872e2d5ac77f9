"""The election: the lease rules (pure) and the loop's own clock, with injected clocks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warmup_autoscaler.errors import MissingTablesError, StoreError
from warmup_autoscaler.leadership import LOCAL_SHARE, STANDBY_POLL_S, Election
from warmup_autoscaler.store.leader import (
    FREE,
    Lease,
    LeaseView,
    Term,
    claim,
    holds,
    released,
)

LEASE_MS = 3000
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def lease(holder, term, expires_at_ms, **kw) -> Lease:
    return Lease(holder=holder, term=term, expires_at_ms=expires_at_ms, **kw)


@pytest.mark.parametrize(
    ("before", "me", "now", "after"),
    [
        (FREE, "a", 100, lease("a", 1, 3100, acquired_at_ms=100, renewed_at_ms=100)),
        (lease("a", 4, 500), "a", 100, lease("a", 4, 3100, renewed_at_ms=100)),
        (lease("b", 4, 500), "a", 100, lease("b", 4, 500)),
        (lease("b", 4, 100), "a", 100, lease("a", 5, 3100, acquired_at_ms=100, renewed_at_ms=100)),
        (lease("a", 4, 99), "a", 100, lease("a", 5, 3100, acquired_at_ms=100, renewed_at_ms=100)),
        (lease(None, 4, 0), "a", 100, lease("a", 5, 3100, acquired_at_ms=100, renewed_at_ms=100)),
    ],
    ids=[
        "free: taken in term 1",
        "mine: renewed in the same term",
        "another's, live: unchanged",
        "another's, expiring now: taken in the next term",
        "mine, expired: taken again in the next term",
        "released: taken in the next term",
    ],
)
def test_claim(before, me, now, after):
    """Who gets the lease, in which term, until when."""
    assert claim(before, me, now, LEASE_MS) == after


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (lease("a", 4, 500), lease(None, 4, 0)),
        (lease("b", 4, 500), lease("b", 4, 500)),
    ],
    ids=["mine: free at once, term kept", "another's: unchanged"],
)
def test_released(before, after):
    """Releasing frees only one's own lease, and keeps the term so the next one is higher."""
    assert released(before, "a") == after


@pytest.mark.parametrize(
    ("row", "term", "now", "expected"),
    [
        (lease("a", 4, 500), Term(instance="a", number=4), 499, True),
        (lease("a", 4, 500), Term(instance="a", number=4), 500, False),
        (lease("a", 5, 500), Term(instance="a", number=4), 100, False),
        (lease("b", 4, 500), Term(instance="a", number=4), 100, False),
        (lease(None, 4, 0), Term(instance="a", number=4), 100, False),
    ],
    ids=["current", "expired", "a later term of mine", "another's", "released"],
)
def test_holds(row, term, now, expected):
    """A fenced write passes only for the current, unexpired term of its holder."""
    assert holds(row, term, now) is expected


steps = st.lists(
    st.tuples(st.sampled_from("abc"), st.sampled_from(["elect", "release"]), st.integers(0, 4000)),
    max_size=60,
)


@given(steps)
def test_a_superseded_term_never_holds_again(history):
    """Whatever the order of bids, releases and delays: terms only grow, each is given to one
    instance once, and a term that was superseded never passes a fence again."""
    row, now, issued = FREE, 0, {}
    for instance, action, wait in history:
        now += wait
        before = row
        row = claim(row, instance, now, LEASE_MS) if action == "elect" else released(row, instance)
        assert row.term >= before.term
        if row.term != before.term:
            assert row.term not in issued
            issued[row.term] = row.holder
        for number, holder in issued.items():
            if number < row.term:
                assert not holds(row, Term(instance=holder, number=number), now)


class Row:
    """The lease row of a database, with the database's clock the test moves."""

    def __init__(self) -> None:
        self.lease = FREE
        self.now_ms = 1_000_000
        self.down = False
        self.missing = False


class MemoryStore:
    """`LeaderStore` on a `Row`, applying the same rules."""

    name = "default"
    lease_ms = LEASE_MS

    def __init__(self, row: Row, instance: str) -> None:
        self.row = row
        self.instance = instance

    def _reach(self) -> None:
        if self.row.missing:
            raise MissingTablesError("no table autoscaler_leader")
        if self.row.down:
            raise StoreError("cannot connect to the database")

    def read(self) -> LeaseView:
        self._reach()
        return LeaseView(lease=self.row.lease, now_ms=self.row.now_ms)

    def elect(self) -> LeaseView:
        self._reach()
        self.row.lease = claim(self.row.lease, self.instance, self.row.now_ms, self.lease_ms)
        return self.read()

    def release(self) -> None:
        self._reach()
        self.row.lease = released(self.row.lease, self.instance)


class Clock:
    def __init__(self, start: float = 50.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def elect(row: Row, instance: str, **kw) -> tuple[Election, Clock]:
    clock = Clock()
    return Election(MemoryStore(row, instance), clock=clock, wall=lambda: T0, **kw), clock


def test_the_first_instance_leads_and_the_second_stands_by():
    """On a free lease the first round leads in term 1; another instance sees it lead."""
    row = Row()
    a, _ = elect(row, "a")
    b, _ = elect(row, "b")
    a.round()
    b.round()
    assert a.current() == Term(instance="a", number=1) and b.current() is None
    assert (a.view().role, b.view().role) == ("leader", "standby")
    assert a.view().leader_instance == b.view().leader_instance == "a"
    assert a.view().term == b.view().term == 1
    assert (a.poll_s(), b.poll_s()) == (LEASE_MS / 3000, STANDBY_POLL_S)


def test_the_leader_stops_acting_by_its_own_clock_before_another_can_take_over():
    """With the database unreachable, the leader's own clock ends its term at 80% of the lease
    after its last renewal began, while the lease still holds on the database's clock."""
    row = Row()
    a, clock = elect(row, "a")
    a.round()
    row.down = True
    clock.now += LEASE_MS / 1000 * LOCAL_SHARE - 0.001
    a.round()  # fails: nothing changes
    assert a.current() is not None
    clock.now += 0.001
    assert a.current() is None and a.view().role == "standby"
    row.down = False
    row.now_ms += round(LEASE_MS * LOCAL_SHARE)  # the same time passed on the database
    b, _ = elect(row, "b")
    b.round()
    assert b.current() is None and b.view().leader_instance == "a"  # not yet: a's lease holds
    row.now_ms += LEASE_MS - round(LEASE_MS * LOCAL_SHARE)
    b.round()
    assert b.current() == Term(instance="b", number=2)


def test_a_renewal_counts_from_when_it_started():
    """A slow renewal buys only what is left of the lease from the moment it was sent."""
    row = Row()
    clock = Clock()

    class Slow(MemoryStore):
        def elect(self) -> LeaseView:
            clock.now += LEASE_MS / 1000  # the answer comes a whole lease later
            return super().elect()

    a = Election(Slow(row, "a"), clock=clock, wall=lambda: T0)
    a.round()
    assert a.current() is None


def test_a_frozen_leader_finds_itself_deposed():
    """A leader frozen past its lease is not leading when it wakes, and its next round shows the
    new leader; the callbacks report the loss and the new leader's election once each."""
    row = Row()
    a, a_clock = elect(row, "a")
    b, _ = elect(row, "b")
    events: list[str] = []
    a.on_lost = lambda: events.append("a lost")
    a.on_change = lambda: events.append("a changed")
    b.on_change = lambda: events.append("b changed")
    for e in (a, b):
        e.round()
        e.settle()
    assert events == ["a changed", "b changed"] and a.elected.is_set()
    events.clear()
    a_clock.now += 60  # frozen
    row.now_ms += 60_000
    assert a.current() is None
    b.round()
    b.settle()
    assert b.current() == Term(instance="b", number=2) and b.elected.is_set()
    a.round()
    a.settle()
    assert a.view().leader_instance == "b" and a.current() is None
    assert events == ["b changed", "a lost", "a changed"] and not a.elected.is_set()
    a.settle()
    assert events == ["b changed", "a lost", "a changed"]


def test_a_released_lease_is_taken_by_the_next_round():
    """A leader that stops releases its lease: a standby's next round leads in the next term."""
    row = Row()
    a, _ = elect(row, "a")
    b, _ = elect(row, "b")
    a.round()
    b.round()
    asyncio.run(a.release())
    assert a.current() is None and row.lease.holder is None
    b.round()
    assert b.current() == Term(instance="b", number=2)


def test_a_shadow_never_leads():
    """A dry-run instance (contend=False) reads who leads and never takes a free lease."""
    row = Row()
    shadow, _ = elect(row, "s", contend=False)
    shadow.round()
    assert shadow.current() is None and row.lease == FREE
    assert shadow.view().role == "shadow"
    a, _ = elect(row, "a")
    a.round()
    shadow.round()
    assert shadow.view().leader_instance == "a"


def test_missing_tables_are_created_then_the_round_goes_on():
    """On a fresh database the first round runs the migrations, then takes the lease."""
    row = Row()
    row.missing = True

    def prepare() -> None:
        row.missing = False

    a, _ = elect(row, "a", prepare=prepare)
    a.round()
    assert a.current() == Term(instance="a", number=1)


def test_the_view_counts_the_lease_down_from_when_it_was_read():
    """leaseExpiresInMs is the lease left when it was read, minus the time since."""
    from datetime import timedelta

    row = Row()
    a, _ = elect(row, "a")
    a.round()
    view = a.view()
    assert view.lease_expires_in_ms(T0) == LEASE_MS
    assert view.lease_expires_in_ms(T0 + timedelta(milliseconds=1000)) == LEASE_MS - 1000
    assert view.lease_expires_in_ms(T0 + timedelta(hours=1)) == 0


def test_an_unreachable_database_shows_in_the_view_until_it_is_back():
    """A failed round's error is in the view (the status' lastError on a standby) and reported as
    a change; the next good round clears it."""
    row = Row()
    a, _ = elect(row, "a")
    seen: list[str | None] = []
    a.on_change = lambda: seen.append(a.view().error)
    row.down = True
    a.round()
    a.settle()
    a.round()
    a.settle()
    row.down = False
    a.round()
    a.settle()
    assert seen == ["cannot connect to the database", None]
    assert a.current() == Term(instance="a", number=1)


def test_a_lease_lost_to_an_outage_is_not_a_deposition():
    """With the database out of reach the leader stops leading by its clock, but stands down (stops
    its workers) only once it sees another instance lead; back in time, it leads on."""
    row = Row()
    a, clock = elect(row, "a")
    lost: list[str] = []
    a.on_lost = lambda: lost.append("a")
    a.round()
    a.settle()
    row.down = True
    clock.now += LEASE_MS / 1000
    a.round()
    a.settle()
    assert a.current() is None and lost == []
    row.down = False
    a.round()
    a.settle()
    assert a.current() == Term(instance="a", number=1) and lost == []  # not expired on the db
    row.down = True
    clock.now += LEASE_MS / 1000
    a.round()
    a.settle()
    row.down = False
    row.now_ms += LEASE_MS
    b, _ = elect(row, "b")
    b.round()
    a.round()
    a.settle()
    a.round()
    a.settle()
    assert a.view().leader_instance == "b" and lost == ["a"]
