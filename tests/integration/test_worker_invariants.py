"""The ownership invariants of `store.leases`, checked after every step of any interleaving of
joins, heartbeats, claims, releases, syncs, pauses past the TTL, drains and deaths of many
simulated workers, and of mailboxes coming and going, on real SQLite and PostgreSQL.

A pause or a death is simulated by moving the worker's registration into the past, as a TTL
passing without a heartbeat would; a paused worker steps again later (and must find it has
lost everything), a dead one never does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.support.keepers import EVERY_HEARTBEAT, lease_rows
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.demo import create_demo_tables, set_active_count
from warmup_autoscaler.store.leases import lease_fence_sql
from warmup_autoscaler.store.migrate import upgrade
from warmup_autoscaler.store.worker_schema import fleet, leases, warmup_cycles, workers
from warmup_autoscaler.worker import LeaseKeeper, WorkerIdentity, fair_target, to_release

ACTIVE_QUERY = "SELECT * FROM mailboxes WHERE status = 'active'"
TTL_MS = 600_000  # nothing expires unless a step says so
MAX_WORKERS = 6


class Sim:
    """The workers of one example, the view each has of what it holds, and the checks."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.keepers: list[LeaseKeeper] = []
        self.views: dict[str, dict[int, int]] = {}
        self.paused: set[str] = set()  # registration expired behind its back: view may be stale
        self.joined = 0
        self.epochs: dict[int, int] = {}  # the highest epoch seen per mailbox
        self._fence = text(f"SELECT {lease_fence_sql(db.dialect_name)}")

    def join(self) -> None:
        if len(self.keepers) >= MAX_WORKERS:
            return
        me = WorkerIdentity(id=f"p{self.joined:031d}", name=f"p{self.joined}", host="t", pid=1)
        self.joined += 1
        self.keepers.append(
            LeaseKeeper(
                self.db,
                me,
                lease_ttl_ms=TTL_MS,
                capacity=1_000_000,
                active_query=ACTIVE_QUERY,
                sync=EVERY_HEARTBEAT,
            )
        )
        self.views[me.id] = {}

    def beat(self, keeper: LeaseKeeper, *, release: bool, sync: bool) -> None:
        tick = keeper.heartbeat()
        if keeper.me.id in self.paused:
            assert tick.lost == len(self.views[keeper.me.id]), "a paused worker lost everything"
        self.views[keeper.me.id] = dict(tick.owned)
        self.paused.discard(keeper.me.id)
        if release:
            self.release(keeper, to_release(tick))
        if sync and tick.sync_due:
            keeper.sync()

    def release(self, keeper: LeaseKeeper, mailboxes: list[int]) -> None:
        keeper.release(mailboxes)
        for mailbox in mailboxes:
            self.views[keeper.me.id].pop(mailbox, None)

    def expire(self, keeper: LeaseKeeper, *, dies: bool) -> None:
        with self.db.begin_write() as conn:
            conn.execute(
                text(f"UPDATE {workers.name} SET heartbeat_at = 1, expires_at = 1 WHERE id = :id"),
                {"id": keeper.me.id},
            )
        self.paused.add(keeper.me.id)
        if dies:
            self.keepers.remove(keeper)

    def drain(self, keeper: LeaseKeeper) -> None:
        keeper.set_draining()
        tick = keeper.heartbeat(draining=True)
        assert tick.target == 0 and not tick.claimed
        keeper.release(to_release(tick))
        keeper.close()
        self.keepers.remove(keeper)
        del self.views[keeper.me.id]

    def check(self) -> None:
        """The invariants that hold after every step."""
        rows = lease_rows(self.db)
        with self.db.engine.connect() as conn:
            owned = {
                str(w): int(n)
                for w, n in conn.execute(text(f"SELECT id, owned FROM {workers.name}"))
            }
            passing: Counter[int] = Counter()
            for worker, view in self.views.items():
                for mailbox, epoch in view.items():
                    params = {"mailbox_id": mailbox, "worker_id": worker, "epoch": epoch}
                    if conn.execute(self._fence, params).scalar_one():
                        passing[mailbox] += 1
        valid = {m: (w, e) for m, w, e, alive in rows if w is not None and alive}
        # 1. Fencing: at most one worker can write for a mailbox, and only its valid owner.
        assert all(n == 1 for n in passing.values()), passing
        assert set(passing) <= set(valid)
        # 2. A worker that was not paused sees exactly what the database says it holds.
        for worker, view in self.views.items():
            if worker in self.paused:
                continue
            held = {m: e for m, (w, e) in valid.items() if w == worker}
            assert view == held, f"{worker}: view {sorted(view)} != held {sorted(held)}"
        # 3. The registration's count of leases is exact.
        for worker, count in Counter(w for _, w, _, _ in rows if w is not None).items():
            assert owned.get(worker) == count, (worker, owned.get(worker), count)
        # 4. Epochs never go back, even across a row deleted and made again.
        for mailbox, _, epoch, _ in rows:
            assert epoch >= self.epochs.get(mailbox, 0)
            self.epochs[mailbox] = epoch

    def settle(self) -> None:
        """Every worker left steps, four rounds; then the fleet is complete and balanced."""
        if not self.keepers:
            self.join()
        for _ in range(4):
            for keeper in list(self.keepers):
                self.beat(keeper, release=True, sync=True)
            self.check()
        with self.db.engine.connect() as conn:
            active = {int(m) for (m,) in conn.execute(text(ACTIVE_QUERY.replace("*", "id")))}
            rows = conn.execute(text(f"SELECT mailbox_id, worker_id FROM {leases.name}")).all()
            total = conn.execute(text(f"SELECT mailboxes FROM {fleet.name}")).scalar_one()
        assert {int(m) for m, _ in rows} == active, "lease rows are the active mailboxes"
        assert all(w is not None for _, w in rows), "every active mailbox is owned"
        assert total == len(active)
        shares = Counter(str(w) for _, w in rows)
        live = len(self.keepers)
        assert sorted(shares.get(k.me.id, 0) for k in self.keepers) == sorted(
            fair_target(len(active), live, 1_000_000, rank) for rank in range(live)
        ), "each worker holds its floor/ceil share"


@pytest.fixture
def sim_db(db: Database) -> Iterator[Database]:
    upgrade(db)
    create_demo_tables(db)
    yield db


OPS = st.one_of(
    st.tuples(st.just("join"), st.just(0)),
    st.tuples(st.sampled_from(["beat", "step", "release", "sync"]), st.integers(0, 50)),
    st.tuples(st.sampled_from(["pause", "die", "drain"]), st.integers(0, 50)),
    st.tuples(st.just("active"), st.integers(0, 30)),
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(OPS, min_size=1, max_size=25))
def test_invariants_hold_after_every_step(sim_db: Database, ops: list[tuple[str, int]]) -> None:
    """Whatever workers join, heartbeat, claim, release, sync, pause past the TTL, drain or die,
    and whatever mailboxes come and go: at most one worker passes the fence for a mailbox and
    only its valid owner, every worker not paused sees exactly what it holds, the registrations
    count their leases exactly and epochs never go back; once the survivors have heartbeated,
    every active mailbox is owned and each holds its floor/ceil share."""
    with sim_db.begin_write() as conn:
        for table in (workers, leases, warmup_cycles):
            conn.execute(text(f"DELETE FROM {table.name}"))
        conn.execute(text(f"UPDATE {fleet.name} SET mailboxes = 0, sync_due_at = 0"))
    set_active_count(sim_db, 12)
    sim = Sim(sim_db)
    for op, arg in ops:
        if op == "join":
            sim.join()
        elif op == "active":
            set_active_count(sim_db, arg)
        elif sim.keepers:
            keeper = sim.keepers[arg % len(sim.keepers)]
            if op in ("beat", "step"):
                sim.beat(keeper, release=op == "step", sync=op == "step")
            elif op == "release" and keeper.me.id not in sim.paused:
                view = sorted(sim.views[keeper.me.id])
                sim.release(keeper, view[: arg % (len(view) + 1)])
            elif op == "sync":
                keeper.sync()
            elif op == "drain" and keeper.me.id not in sim.paused:
                sim.drain(keeper)
            elif op in ("pause", "die"):
                sim.expire(keeper, dies=op == "die")
        sim.check()
    sim.settle()
