"""Pure parts of worker ownership: the fair-share target, which leases to shed, names, JSON."""

from __future__ import annotations

import os
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

import warmup_autoscaler.worker as worker_pkg
from warmup_autoscaler.store.lease_sync import SyncPolicy
from warmup_autoscaler.store.workers import FleetSnapshot, WorkerStatus
from warmup_autoscaler.wire import fleet_json
from warmup_autoscaler.worker import Tick, WorkerIdentity, fair_target, pick_excess, to_release


@pytest.mark.parametrize(
    ("active", "live", "capacity", "target"),
    [
        (0, 3, 10, 0),  # nothing to own
        (10, 0, 10, 10),  # no live worker counted yet: behave as the only one
        (10, 3, 10, 4),  # ceil(10 / 3)
        (9, 3, 10, 3),
        (100, 3, 10, 10),  # capped by capacity
        (2500, 2, 1000, 1000),
    ],
)
def test_fair_target(active: int, live: int, capacity: int, target: int) -> None:
    """The target is min(capacity, ceil(active / live)), 0 without mailboxes."""
    assert fair_target(active, live, capacity) == target


@given(active=st.integers(0, 10**6), live=st.integers(1, 500), capacity=st.integers(1, 10**5))
def test_fair_targets_cover_every_mailbox_up_to_capacity(
    active: int, live: int, capacity: int
) -> None:
    """Live workers' targets add up to all active mailboxes unless capacity runs out first."""
    target = fair_target(active, live, capacity)
    assert target <= capacity
    assert target * live >= min(active, capacity * live)
    assert target == 0 or (target - 1) * live < active


@given(active=st.integers(0, 10**6), live=st.integers(1, 500), capacity=st.integers(1, 10**5))
def test_shares_by_rank_add_up_to_the_mailboxes(active: int, live: int, capacity: int) -> None:
    """The shares of ranks 0..live-1 are floor or ceil of active / live, oldest first, and add
    up to every mailbox unless capacity runs out: so a join or leave moves only what it must."""
    shares = [fair_target(active, live, capacity, rank) for rank in range(live)]
    assert sum(shares) == min(active, live * capacity)
    assert shares == sorted(shares, reverse=True)
    assert max(shares) - min(shares) <= 1


@pytest.mark.parametrize(
    ("compared_ms", "gap_ms"),
    [
        (0, 5000),  # nothing to compare: every heartbeat
        (50, 5000),  # within the free allowance (round trips on a busy machine)
        (150, 5000),  # 100 ms beyond it is 2% of 4.9 s: still under the heartbeat
        (1050, 49_000),  # a second beyond it: 49 s between syncs, 2% of the time
        (3250, 156_800),
    ],
)
def test_sync_interval_keeps_the_comparison_to_its_duty(compared_ms: int, gap_ms: int) -> None:
    """The next sync waits at least a heartbeat, and long enough that comparing (beyond the
    free 50 ms) takes at most 2% of the time."""
    assert SyncPolicy(min_interval_ms=5000).gap_ms(compared_ms) == gap_ms


def test_to_release_gives_retired_leases_and_the_excess_never_a_busy_one() -> None:
    """After a heartbeat: every retired lease not busy, then the excess from the rest."""
    tick = Tick(owned={m: 1 for m in range(1, 11)}, retired=frozenset({2, 3}), excess=2)
    assert to_release(tick, busy={3, 10}) == [2, 8, 9]


@given(
    owned=st.sets(st.integers(1, 200)),
    busy=st.sets(st.integers(1, 200)),
    n=st.integers(-3, 250),
)
def test_pick_excess_never_sheds_a_busy_mailbox(owned: set[int], busy: set[int], n: int) -> None:
    """Shed at most n owned mailboxes, none of them busy, as many as the idle ones allow."""
    shed = pick_excess(owned, n, busy)
    assert set(shed) <= owned - busy
    assert len(shed) == len(set(shed)) == max(0, min(n, len(owned - busy)))


def test_worker_names() -> None:
    """The name is AUTO_SCALER_WORKER_NAME or <host>-<pid>, with -w<index> when an index is set;
    every identity gets a fresh id."""
    host, pid = socket.gethostname(), os.getpid()
    plain = WorkerIdentity.create()
    assert (plain.name, plain.host, plain.pid) == (f"{host}-{pid}", host, pid)
    assert WorkerIdentity.create(index="2").name == f"{host}-{pid}-w2"
    assert WorkerIdentity.create(name="warmer", index="0").name == "warmer-w0"
    assert WorkerIdentity.create(name="warmer").name == "warmer"
    assert plain.id != WorkerIdentity.create().id and len(plain.id) == 32


def test_fleet_snapshot_to_dict_is_camel_case() -> None:
    """The status API's JSON uses camelCase keys."""
    snap = FleetSnapshot(
        workers=(
            WorkerStatus(
                id="i",
                name="n",
                host="h",
                pid=1,
                state="draining",
                owned=3,
                heartbeat_age_ms=120,
                started_at_ms=5,
            ),
        ),
        live=0,
        draining=1,
        backlog=4,
        active_mailboxes=7,
    )
    assert fleet_json(snap) == {
        "workers": [
            {
                "id": "i",
                "name": "n",
                "host": "h",
                "pid": 1,
                "state": "draining",
                "owned": 3,
                "heartbeatAgeMs": 120,
                "heartbeatAgeSeconds": 0.1,
                "startedAtMs": 5,
            }
        ],
        "live": 0,
        "draining": 1,
        "backlog": 4,
        "activeMailboxes": 7,
    }


def test_exported_members() -> None:
    """The worker package exports exactly what `__all__` lists, and each name exists."""
    assert sorted(worker_pkg.__all__) == worker_pkg.__all__
    for name in worker_pkg.__all__:
        assert hasattr(worker_pkg, name), name
