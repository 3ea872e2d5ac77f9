"""Pure parts of worker ownership: the fair-share target, which leases to shed, names, JSON."""

from __future__ import annotations

import os
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

import warmup_autoscaler.worker as worker_pkg
from warmup_autoscaler.store.workers import FleetSnapshot, WorkerStatus
from warmup_autoscaler.wire import fleet_json
from warmup_autoscaler.worker import WorkerIdentity, fair_target, pick_excess


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
