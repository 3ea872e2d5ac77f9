"""The leader's lease on real SQLite and PostgreSQL: contending instances, expiry on the database's
clock, release, and fenced writes of a deposed leader."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.e2e.conftest import wait_until
from warmup_autoscaler.errors import NotLeaderError
from warmup_autoscaler.store import CheckRecord, Database, ScalerState, StateStore, upgrade
from warmup_autoscaler.store.history import HistoryStore
from warmup_autoscaler.store.leader import LeaderStore, Term

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
EMPTY = ScalerState(last_scale_up_at=None, last_scale_down_at=None)


@pytest.fixture
def dbs(database_url: str) -> Iterator[list[Database]]:
    """Three connections to one fresh, migrated database, as three daemons would hold them."""
    databases = [Database(database_url) for _ in range(3)]
    upgrade(databases[0])
    yield databases
    for database in databases:
        database.dispose()


def test_one_instance_leads_and_a_release_hands_over_at_once(dbs: list[Database]) -> None:
    """The first bid leads in term 1; another instance sees it and stands by; once released, the
    other's next bid leads in term 2."""
    a = LeaderStore(dbs[0], instance="a", lease_ms=60_000)
    b = LeaderStore(dbs[1], instance="b", lease_ms=60_000)
    first = a.elect()
    assert first.term_of("a") == Term(instance="a", number=1)
    assert 59_000 < first.remaining_ms <= 60_000
    seen = b.elect()
    assert seen.term_of("b") is None and seen.lease.holder == "a"
    assert a.elect().term_of("a") == Term(instance="a", number=1)  # renewed, same term
    a.release()
    assert b.read().lease.holder is None
    assert b.elect().term_of("b") == Term(instance="b", number=2)
    a.release()  # not its lease any more: nothing changes
    assert a.read().lease.holder == "b"


def test_an_unrenewed_lease_expires_on_the_database_clock(dbs: list[Database]) -> None:
    """A leader that stops renewing loses the lease once it expires, to the next bid."""
    a = LeaderStore(dbs[0], instance="a", lease_ms=300)
    b = LeaderStore(dbs[1], instance="b", lease_ms=300)
    taken = a.elect()
    view = wait_until(lambda: b.elect().term_of("b"), 10, "b to take the lease")
    assert view == Term(instance="b", number=2)
    lease = b.read().lease
    assert lease.acquired_at_ms >= taken.lease.expires_at_ms


def test_a_deposed_leaders_fenced_write_is_refused(dbs: list[Database]) -> None:
    """After its lease passed to another instance, the old leader's fenced state write raises
    NotLeaderError and changes nothing; the new leader's goes through."""
    a = LeaderStore(dbs[0], instance="a", lease_ms=300)
    b = LeaderStore(dbs[1], instance="b", lease_ms=60_000)
    old = a.elect().term_of("a")
    assert old is not None
    StateStore(dbs[0]).save(EMPTY, fence=old)  # while it leads
    new = wait_until(lambda: b.elect().term_of("b"), 10, "b to take the lease")
    acted = ScalerState(last_scale_up_at=T0, last_scale_down_at=None, workers=9)
    with pytest.raises(
        NotLeaderError, match=r"instance a no longer leads \(its term 1 has passed to b, term 2\)"
    ):
        StateStore(dbs[0]).save(acted, fence=old)
    assert StateStore(dbs[2]).load() == EMPTY
    StateStore(dbs[1]).save(acted, fence=new)
    assert StateStore(dbs[2]).load() == acted


def test_an_expired_term_cannot_write_even_before_anyone_takes_over(dbs: list[Database]) -> None:
    """A leader whose lease has expired cannot write, even though nobody has taken it yet."""
    a = LeaderStore(dbs[0], instance="a", lease_ms=200)
    term = a.elect().term_of("a")
    assert term is not None
    wait_until(lambda: a.read().remaining_ms == 0, 10, "the lease to expire")
    with pytest.raises(NotLeaderError, match="has expired"):
        StateStore(dbs[0]).save(EMPTY, fence=term)


def test_contending_instances_never_share_a_term(dbs: list[Database]) -> None:
    """Three instances bidding in threads on a 40 ms lease; each leader writes under its term,
    then freezes past its lease (the fault simulated) and tries again: every term is won by one
    instance only, only its holder's writes pass, and no write after the freeze ever does."""
    lease_ms = 40
    stores = [
        LeaderStore(db, instance=name, lease_ms=lease_ms)
        for db, name in zip(dbs, "abc", strict=True)
    ]
    won: list[tuple[int, str]] = []
    written: list[tuple[int, str]] = []
    refused_after_freeze: list[int] = []
    errors: list[BaseException] = []
    deadline = time.monotonic() + 2.0

    def bid(store: LeaderStore) -> None:
        state = StateStore(store.db)
        try:
            while time.monotonic() < deadline:
                term = store.elect().term_of(store.instance)
                if term is None:
                    continue
                won.append((term.number, term.instance))
                try:
                    state.save(EMPTY, fence=term)
                    written.append((term.number, term.instance))
                except NotLeaderError:
                    continue
                time.sleep(lease_ms * 1.5 / 1000)  # frozen past its lease
                with pytest.raises(NotLeaderError):
                    state.save(EMPTY, fence=term)
                refused_after_freeze.append(term.number)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=bid, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    holders: dict[int, set[str]] = {}
    for number, instance in won:
        holders.setdefault(number, set()).add(instance)
    assert len(holders) > 1 and refused_after_freeze  # the lease changed hands
    assert all(len(h) == 1 for h in holders.values()), holders
    assert all(holders[number] == {instance} for number, instance in written)


def test_the_journal_keeps_each_checks_instance_and_term(dbs: list[Database]) -> None:
    """A journaled check reads back with the instance and the term that ran it."""
    StateStore(dbs[0]).record_check(
        CheckRecord(checked_at=T0, trigger="elected", instance="host-1-ab12", term=3)
    )
    [row] = HistoryStore(dbs[1]).checks()
    assert (row.trigger, row.instance, row.term) == ("elected", "host-1-ab12", 3)
