"""Lease ownership against real SQLite and PostgreSQL: several workers in one process, each
driven heartbeat by heartbeat with explicit calls (no sleeps; expiry is simulated by moving a
worker's registration into the past, as a pause past the TTL would)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.support.keepers import EVERY_HEARTBEAT, lease_rows, step
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.demo import create_demo_tables, set_active_count
from warmup_autoscaler.store.migrate import upgrade
from warmup_autoscaler.store.worker_schema import leases, warmup_cycles, workers
from warmup_autoscaler.store.workers import count_live_workers, fleet_snapshot
from warmup_autoscaler.worker import LeaseKeeper, WorkerIdentity

TTL_MS = 600_000  # long: nothing expires unless a test says so
ACTIVE_QUERY = "SELECT * FROM mailboxes WHERE status = 'active'"


class Fleet:
    """Workers of one test, each with the view its last heartbeat gave it."""

    def __init__(self, db: Database, capacity: int = 1_000_000) -> None:
        self.db = db
        self.capacity = capacity
        self.keepers: list[LeaseKeeper] = []
        self.views: dict[str, dict[int, int]] = {}
        self.stale: set[str] = set()  # expired behind their back: their view may be outdated

    def join(self, name: str) -> LeaseKeeper:
        keeper = LeaseKeeper(
            self.db,
            WorkerIdentity(id=f"{name:0>32}"[-32:], name=name, host="test", pid=1),
            lease_ttl_ms=TTL_MS,
            capacity=self.capacity,
            active_query=ACTIVE_QUERY,
            sync=EVERY_HEARTBEAT,
        )
        self.keepers.append(keeper)
        self.views[keeper.me.id] = {}
        return keeper

    def step(self, keeper: LeaseKeeper) -> None:
        self.views[keeper.me.id] = dict(step(keeper).owned)
        self.stale.discard(keeper.me.id)
        self.check()

    def rounds(self, n: int = 1) -> None:
        for _ in range(n):
            for keeper in list(self.keepers):
                self.step(keeper)

    def expire(self, keeper: LeaseKeeper) -> None:
        """As if `keeper` had been paused past the TTL: its registration in the past."""
        with self.db.begin_write() as conn:
            conn.execute(
                text(f"UPDATE {workers.name} SET heartbeat_at = 1, expires_at = 1 WHERE id = :id"),
                {"id": keeper.me.id},
            )
        self.stale.add(keeper.me.id)

    def leave(self, keeper: LeaseKeeper) -> None:
        keeper.close()
        self.keepers.remove(keeper)
        del self.views[keeper.me.id]

    def owners(self) -> dict[int, str]:
        """{mailbox: worker} for every unexpired lease, from the database."""
        return {m: w for m, (w, _) in self.leases().items() if w is not None}

    def leases(self) -> dict[int, tuple[str | None, int]]:
        """{mailbox: (worker or None when expired/unowned, epoch)}."""
        return {m: (w if valid else None, e) for m, w, e, valid in lease_rows(self.db)}

    def counts(self) -> dict[str, int]:
        counted = {k.me.id: 0 for k in self.keepers}
        for worker in self.owners().values():
            counted[worker] = counted.get(worker, 0) + 1
        return counted

    def check(self) -> None:
        """At most one live owner per mailbox: fresh views are disjoint, never hold a mailbox the
        database says another worker owns, and miss none the database says they own."""
        owners = self.owners()
        seen: dict[int, str] = {}
        for worker, view in self.views.items():
            if worker in self.stale:
                continue
            for mailbox in view:
                assert mailbox not in seen, f"{mailbox} owned by {seen[mailbox]} and {worker}"
                seen[mailbox] = worker
                assert owners.get(mailbox) in (worker, None)  # None: deactivated since
        assert {m for m, w in owners.items() if w not in self.stale} <= set(seen)


@pytest.fixture
def fleet_db(db: Database) -> Iterator[Database]:
    upgrade(db)
    create_demo_tables(db)
    yield db


def minimum_moves(before: list[int], workers: int, total: int) -> int:
    """The fewest mailboxes that must change owner to go from `before` to a balanced fleet."""
    base, extra = divmod(total, workers)
    caps = [base + 1] * extra + [base] * (workers - extra)
    counts = sorted([*before, *[0] * (workers - len(before))], reverse=True)
    return sum(max(0, have - cap) for have, cap in zip(counts, caps, strict=True))


def test_one_worker_claims_up_to_its_capacity(fleet_db: Database) -> None:
    """A lone worker claims min(capacity, fair share); the rest is backlog in the snapshot."""
    set_active_count(fleet_db, 100)
    fleet = Fleet(fleet_db, capacity=30)
    alone = fleet.join("a")
    fleet.rounds(2)
    assert fleet.counts() == {alone.me.id: 30}
    snap = fleet_snapshot(fleet_db, TTL_MS)
    assert (snap.live, snap.draining, snap.backlog, snap.active_mailboxes) == (1, 0, 70, 100)
    assert snap.workers[0].owned == 30
    assert snap.workers[0].heartbeat_age_ms >= 0
    assert count_live_workers(fleet_db, TTL_MS) == 1


def test_workers_claim_their_fair_share(fleet_db: Database) -> None:
    """Three workers joining together end up with floor/ceil of 100/3 each (the oldest gets the
    one left over), all owned."""
    set_active_count(fleet_db, 100)
    fleet = Fleet(fleet_db)
    for name in "abc":
        fleet.join(name)
    fleet.rounds(3)
    assert [fleet.counts()[k.me.id] for k in fleet.keepers] == [34, 33, 33]
    assert len(fleet.owners()) == 100
    assert fleet_snapshot(fleet_db, TTL_MS).backlog == 0


@pytest.mark.parametrize(
    ("workers", "mailboxes"), [(1, 2500), (2, 2500), (9, 10_000)], ids=["1to2", "2to3", "9to10"]
)
def test_a_join_moves_close_to_the_minimum(
    fleet_db: Database, workers: int, mailboxes: int
) -> None:
    """When a worker joins, the others shed only their excess: moved/minimum <= 1.05, the new
    worker is full after two heartbeats, each moved lease's epoch grows by one, the others' stay."""
    set_active_count(fleet_db, mailboxes)
    fleet = Fleet(fleet_db)
    for i in range(workers):
        fleet.join(f"w{i}")
    fleet.rounds(2)
    before = fleet.leases()
    assert all(owner is not None for owner, _ in before.values())
    newcomer = fleet.join("new")
    fleet.rounds(2)
    after = fleet.leases()
    moved = [m for m in after if after[m][0] != before[m][0]]
    least = minimum_moves(_counts(before), workers + 1, mailboxes)
    ratio = len(moved) / least
    print(
        f"{fleet_db.dialect_name} {workers}->{workers + 1}: moved {len(moved)}, "
        f"minimum {least}, ratio {ratio:.4f}"
    )
    assert ratio <= 1.05
    assert fleet.counts()[newcomer.me.id] >= mailboxes // (workers + 1) - workers
    assert all(after[m][1] == before[m][1] + 1 for m in moved)
    assert all(after[m][1] == before[m][1] for m in after if m not in set(moved))
    settled = fleet.leases()
    fleet.rounds(2)
    assert fleet.leases() == settled, "a balanced fleet keeps its leases"


def _counts(leases: dict[int, tuple[str | None, int]]) -> list[int]:
    counted: dict[str, int] = {}
    for owner, _ in leases.values():
        if owner is not None:
            counted[owner] = counted.get(owner, 0) + 1
    return list(counted.values())


def test_inactive_mailboxes_are_released_and_new_ones_claimed(fleet_db: Database) -> None:
    """Lease rows follow the active query: new mailboxes get owners, deactivated ones go."""
    set_active_count(fleet_db, 100)
    fleet = Fleet(fleet_db)
    fleet.join("a")
    fleet.join("b")
    fleet.rounds(3)
    set_active_count(fleet_db, 130)
    fleet.rounds(2)
    assert sorted(fleet.owners()) == list(range(1, 131))
    assert sorted(fleet.counts().values()) == [65, 65]
    set_active_count(fleet_db, 40)
    fleet.rounds(2)
    assert sorted(fleet.owners()) == list(range(1, 41))
    assert sorted(fleet.leases()) == list(range(1, 41))
    assert all(set(view) <= set(range(1, 41)) for view in fleet.views.values())
    assert sorted(fleet.counts().values()) == [20, 20]


def test_expired_leases_are_taken_over_with_a_new_epoch(fleet_db: Database) -> None:
    """A worker paused past the TTL is pruned and its mailboxes claimed by the others, each under
    an epoch one higher; when it comes back it owns nothing stale and rejoins its fair share."""
    set_active_count(fleet_db, 60)
    fleet = Fleet(fleet_db)
    a, b, c = fleet.join("a"), fleet.join("b"), fleet.join("c")
    fleet.rounds(3)
    before = fleet.leases()
    a_had = {m for m, (w, _) in before.items() if w == a.me.id}
    fleet.expire(a)
    fleet.step(b)
    fleet.step(c)
    fleet.step(b)
    assert count_live_workers(fleet_db, TTL_MS) == 2
    after = fleet.leases()
    assert {after[m][0] for m in a_had} <= {b.me.id, c.me.id}
    assert all(after[m][1] == before[m][1] + 1 for m in a_had)
    assert sorted(fleet.counts().values()) == [0, 30, 30]
    fleet.rounds(3)  # a comes back: renews nothing, then gets its share again
    assert sorted(fleet.counts().values()) == [20, 20, 20]


def test_a_registration_past_its_ttl_is_never_renewed(fleet_db: Database) -> None:
    """A worker whose registration expired with nobody to prune it (alone, or the database was
    unreachable) does not renew it: it joins anew, holding nothing, and claims its mailboxes
    again under new epochs."""
    set_active_count(fleet_db, 5)
    fleet = Fleet(fleet_db)
    a = fleet.join("a")
    fleet.rounds()
    before = fleet.leases()
    fleet.expire(a)
    tick = a.heartbeat()
    assert tick.lost == 5 and len(tick.claimed) == 5
    assert {m: e for m, (_, e) in fleet.leases().items()} == {
        m: e + 1 for m, (_, e) in before.items()
    }


def test_epoch_grows_on_every_change_of_owner(fleet_db: Database) -> None:
    """One mailbox passed a -> b (expiry) -> a (b leaves): its epoch strictly grows each time."""
    set_active_count(fleet_db, 1)
    fleet = Fleet(fleet_db)
    a = fleet.join("a")
    fleet.rounds()
    epochs = [fleet.leases()[1][1]]
    b = fleet.join("b")
    fleet.expire(a)
    fleet.step(b)
    assert fleet.owners() == {1: b.me.id}
    epochs.append(fleet.leases()[1][1])
    fleet.leave(b)
    fleet.step(a)
    assert fleet.owners() == {1: a.me.id}
    epochs.append(fleet.leases()[1][1])
    fleet.rounds(2)  # renewals keep the epoch
    epochs.append(fleet.leases()[1][1])
    assert epochs[1] == epochs[0] + 1
    assert epochs[2] == epochs[1] + 1
    assert epochs[3] == epochs[2]


def test_a_stale_epoch_cannot_record(fleet_db: Database) -> None:
    """The fenced write succeeds only for the current owner under its epoch before expiry."""
    set_active_count(fleet_db, 1)
    fleet = Fleet(fleet_db)
    a = fleet.join("a")
    fleet.rounds()
    old = fleet.leases()[1][1]

    def record(keeper: LeaseKeeper, epoch: int) -> bool:
        return keeper.record_cycle(
            mailbox_id=1,
            epoch=epoch,
            started_at_ms=1,
            outcome="ok",
            detail=None,
        )

    assert record(a, old)
    assert not record(a, old + 1)
    fleet.expire(a)
    assert not record(a, old), "an expired lease cannot record even before anyone takes it"
    b = fleet.join("b")
    fleet.step(b)
    assert not record(a, old)
    assert record(b, old + 1)
    fleet.leave(b)
    fleet.step(a)
    assert fleet.leases()[1] == (a.me.id, old + 2)
    assert not record(a, old), "the same worker under an older epoch is fenced too"
    assert record(a, old + 2)
    with fleet_db.engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT worker_id, epoch FROM {warmup_cycles.name} ORDER BY id")
        ).all()
    assert [(w, e - old) for w, e in rows] == [(a.me.id, 0), (b.me.id, 1), (a.me.id, 2)]


def test_a_draining_worker_gives_everything_to_the_others(fleet_db: Database) -> None:
    """A draining worker claims nothing and is not counted; its released leases are claimed by
    the others at their next heartbeat, without waiting for any TTL."""
    set_active_count(fleet_db, 50)
    fleet = Fleet(fleet_db)
    a, b = fleet.join("a"), fleet.join("b")
    fleet.rounds(3)
    a.set_draining()
    snap = fleet_snapshot(fleet_db, TTL_MS)
    assert (snap.live, snap.draining) == (1, 1)
    assert count_live_workers(fleet_db, TTL_MS) == 1
    tick = a.heartbeat(draining=True)
    assert tick.target == 0 and tick.excess == 25 and not tick.claimed
    a.close()
    fleet.keepers.remove(a)
    del fleet.views[a.me.id]
    fleet.step(b)
    assert fleet.counts() == {b.me.id: 50}
    assert [w.name for w in fleet_snapshot(fleet_db, TTL_MS).workers] == ["b"]


OPS = st.one_of(
    st.tuples(st.just("join"), st.just(0)),
    st.tuples(st.just("step"), st.integers(0, 5)),
    st.tuples(st.just("round"), st.just(0)),
    st.tuples(st.just("expire"), st.integers(0, 5)),
    st.tuples(st.just("leave"), st.integers(0, 5)),
    st.tuples(st.just("active"), st.integers(0, 40)),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(OPS, max_size=20))
def test_ownership_invariants_hold_under_any_sequence(
    fleet_db: Database, ops: list[tuple[str, int]]
) -> None:
    """Whatever workers join, heartbeat, pause past the TTL or leave, and whatever mailboxes come
    and go, no mailbox ever has two live owners; once all heartbeat, every active one is owned
    by exactly one worker and none holds more than its fair share."""
    with fleet_db.begin_write() as conn:
        for table in (workers, leases, warmup_cycles):
            conn.execute(text(f"DELETE FROM {table.name}"))
    set_active_count(fleet_db, 20)
    fleet = Fleet(fleet_db)
    joined = 0
    for op, arg in ops:
        keepers = fleet.keepers
        if op == "join":
            fleet.join(f"p{joined}")
            joined += 1
        elif op == "round":
            fleet.rounds()
        elif op == "active":
            set_active_count(fleet_db, arg)
        elif keepers:
            keeper = keepers[arg % len(keepers)]
            {"step": fleet.step, "expire": fleet.expire, "leave": fleet.leave}[op](keeper)
        fleet.check()
    if not fleet.keepers:
        fleet.join("last")
    fleet.rounds(4)
    with fleet_db.engine.connect() as conn:
        active = conn.execute(text("SELECT count(*) FROM mailboxes WHERE status = 'active'"))
        total = int(active.scalar_one())
    assert len(fleet.owners()) == total
    assert max(fleet.counts().values()) <= math.ceil(total / len(fleet.keepers))


def test_the_migrations_create_exactly_the_worker_tables(db: Database) -> None:
    """The migrations create what `worker_schema` and `warmup.schema` describe (alongside
    `schema.metadata`)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from warmup_autoscaler.store.lead_times import lead_time_metadata
    from warmup_autoscaler.store.migrate import VERSION_TABLE
    from warmup_autoscaler.store.schema import metadata
    from warmup_autoscaler.store.worker_schema import worker_metadata
    from warmup_autoscaler.warmup.schema import warmup_metadata

    upgrade(db)
    everything = [metadata, worker_metadata, lead_time_metadata, warmup_metadata]
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, everything) == []


def test_a_claim_takes_no_more_than_asked_whatever_the_plan(fleet_db: Database) -> None:
    """A claim takes at most the leases asked for even when the planner believes none is free
    (statistics taken while every lease was owned, then many released, as on a drain): as
    `IN (subquery ... LIMIT n FOR UPDATE SKIP LOCKED)`, PostgreSQL ran the pick once per row of
    its outer scan and claimed every free lease."""
    set_active_count(fleet_db, 3000)
    fleet = Fleet(fleet_db)
    a, b = fleet.join("a"), fleet.join("b")
    fleet.step(a)
    assert len(fleet.views[a.me.id]) == 3000
    if fleet_db.dialect_name == "postgresql":
        with fleet_db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"VACUUM ANALYZE {leases.name}"))
    a.release(range(1, 1001))
    b.registry.join(b.me, "active")
    assert len(b.leases.claim(b.me.id, 47)) == 47
    assert len(b.leases.held(b.me.id)) == 47
