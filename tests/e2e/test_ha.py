"""Three real daemons on one PostgreSQL: exactly one acts, through a SIGKILL, a SIGSTOP past the
lease and a graceful stop of the leader in turn.

The platform is the `command` platform with a script shared by the three daemons: it appends who
called it (each daemon's E2E_DAEMON) and the count to `calls.log`, and keeps the fleet's size in
`count`, which the daemons read back. So every scaling call is seen, with its caller.
"""

from __future__ import annotations

import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.e2e.conftest import DaemonRun, cli, free_port, wait_until
from warmup_autoscaler.store import Database, set_active_count
from warmup_autoscaler.store.history import HistoryStore
from warmup_autoscaler.store.leader import LeaderStore

LEASE_MS = 2000
KILLED_BOUND_S = 2 * LEASE_MS / 1000  # the bound after a SIGKILL: two lease periods
STOPPED_BOUND_S = 1.0  # and after a graceful stop: one second

SCALE_SCRIPT = """\
#!/bin/sh
printf '%s %s\\n' "$E2E_DAEMON" "$1" >> "$FLEET/calls.log"
printf '%s\\n' "$1" > "$FLEET/count.tmp" && mv "$FLEET/count.tmp" "$FLEET/count"
"""


class Fleet:
    """The shared fleet the command platform scales: its size and every call, with its caller."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        (root / "scale.sh").write_text(SCALE_SCRIPT)
        (root / "count").write_text("0\n")
        (root / "calls.log").write_text("")

    def env(self) -> dict[str, str]:
        return {
            "FLEET": str(self.root),
            "AUTO_SCALER_PLATFORM": "command",
            "AUTO_SCALER_SCALE_COMMAND": f"sh {self.root / 'scale.sh'} {{replicas}}",
            "AUTO_SCALER_CURRENT_WORKERS_COMMAND": f"cat {self.root / 'count'}",
        }

    def size(self) -> int:
        return int((self.root / "count").read_text())

    def calls(self) -> list[tuple[str, int]]:
        lines = (self.root / "calls.log").read_text().splitlines()
        return [(who, int(n)) for who, n in (line.split() for line in lines)]


def leader_of(db: Database) -> tuple[str | None, int]:
    """The lease's holder (None when nobody holds it) and its term, read from the database."""
    view = LeaderStore(db, instance="test-reader", lease_ms=LEASE_MS).read()
    return (view.lease.holder if view.remaining_ms else None), view.lease.term


def executed_by(db: Database, instance: str) -> bool:
    return any(c.executed and c.instance == instance for c in HistoryStore(db).checks(limit=1000))


def test_three_daemons_one_leader_through_kill_stop_and_graceful_stop(
    tmp_path, base_env, postgres_url
):
    """Exactly one daemon executes each action (the journal and the platform's own record agree),
    the fleet never exceeds what one daemon would set, and a new leader acts within two leases
    of a SIGKILL or a SIGSTOP and within a second of a SIGTERM."""
    fleet = Fleet(tmp_path / "fleet")
    env = dict(
        base_env,
        DATABASE_URL=postgres_url,
        AUTO_SCALER_CHECK_INTERVAL_MS="300",
        AUTO_SCALER_SCALE_UP_COOLDOWN_MS="0",
        AUTO_SCALER_SCALE_DOWN_COOLDOWN_MS="0",
        AUTO_SCALER_LEADER_LEASE_MS=str(LEASE_MS),
        **fleet.env(),
    )
    assert cli(tmp_path, env, "db", "init", "--demo").returncode == 0
    db = Database(postgres_url)
    set_active_count(db, 1500)  # 2 workers
    daemons: dict[str, DaemonRun] = {}
    instances: dict[str, str] = {}  # instance id -> daemon name

    def start(name: str) -> DaemonRun:
        workdir = tmp_path / name
        workdir.mkdir()
        own = dict(env, E2E_DAEMON=name, AUTO_SCALER_API_PORT=str(free_port()))
        daemon = daemons[name] = DaemonRun(workdir, own)
        daemon.start()
        instances[daemon.status()["leader"]["instance"]] = name
        return daemon

    def holder() -> str | None:
        held, _ = leader_of(db)
        return instances.get(held) if held else None

    def role(name: str) -> str:
        return str(daemons[name].status()["leader"]["role"])

    takeovers: dict[str, float] = {}
    try:
        a = start("a")
        wait_until(lambda: role("a") == "leader", 10, "a to lead")
        start("b")
        start("c")
        assert (role("b"), role("c")) == ("standby", "standby")
        wait_until(lambda: fleet.size() == 2, 20, "a to scale to 2")
        a_instance = a.status()["leader"]["instance"]
        assert daemons["b"].status()["leader"]["leaderInstance"] == a_instance
        followed = wait_until(
            lambda: (s := daemons["c"].status())["currentWorkers"] == 2 and s, 10, "c to follow"
        )
        assert followed["lastDecision"]["instance"] == a_instance  # a standby shows the leader's
        denied = httpx.post(
            f"{daemons['b'].url}/api/auto-scaler/trigger",
            headers={"Authorization": f"Bearer {daemons['b'].env['AUTO_SCALER_ADMIN_TOKEN']}"},
            timeout=10,
        )
        assert denied.status_code == 409 and denied.json()["leader"]["role"] == "standby"
        refused = cli(tmp_path, daemons["b"].env, "trigger")
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr.startswith("error: 409: this auto-scaler (")
        assert "is a standby: " in refused.stderr and len(refused.stderr.splitlines()) == 1

        # 1. SIGKILL the leader: a standby leads and acts within two leases.
        assert a.proc is not None
        a.proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        set_active_count(db, 2500)  # 4 workers
        second = wait_until(
            lambda: holder() if holder() not in (None, "a") else None,
            KILLED_BOUND_S,
            "a standby to take over from the killed leader",
        )
        new = next(i for i, n in instances.items() if n == second)
        _, second_term = leader_of(db)
        wait_until(
            lambda: executed_by(db, new),
            killed_at + KILLED_BOUND_S - time.monotonic(),
            "the new leader to act",
        )
        takeovers["SIGKILL"] = time.monotonic() - killed_at
        wait_until(lambda: fleet.size() == 4, 20, f"{second} to scale to 4")

        # 2. SIGSTOP that leader past its lease: the last standby leads and acts; the frozen one,
        # resumed, finds itself deposed and acts no more.
        frozen = daemons[second]
        third = ({"b", "c"} - {second}).pop()
        assert frozen.proc is not None
        calls_before_stop = len(fleet.calls())
        frozen.proc.send_signal(signal.SIGSTOP)
        stopped_at, stopped_wall = time.monotonic(), datetime.now(UTC)
        set_active_count(db, 3500)  # 5 workers
        wait_until(lambda: holder() == third, KILLED_BOUND_S, f"{third} to take over")
        third_instance = next(i for i, n in instances.items() if n == third)
        wait_until(
            lambda: executed_by(db, third_instance),
            stopped_at + KILLED_BOUND_S - time.monotonic(),
            f"{third} to act",
        )
        takeovers["SIGSTOP"] = time.monotonic() - stopped_at
        wait_until(lambda: fleet.size() == 5, 20, f"{third} to scale to 5")
        frozen.proc.send_signal(signal.SIGCONT)
        wait_until(lambda: role(second) == "standby", 10, f"{second} to stand by")
        assert frozen.status()["leader"]["leaderInstance"] == third_instance
        assert all(who != second for who, _ in fleet.calls()[calls_before_stop:])

        # 3. SIGTERM the leader: the resumed one leads again within a second, and acts.
        leader = daemons[third]
        assert leader.proc is not None
        leader.proc.send_signal(signal.SIGTERM)
        termed_at = time.monotonic()
        wait_until(lambda: holder() == second, STOPPED_BOUND_S, f"{second} to take over")
        wait_until(
            lambda: any(
                c.trigger == "elected" and c.instance == new
                for c in HistoryStore(db).checks(limit=5)
            ),
            termed_at + STOPPED_BOUND_S - time.monotonic(),
            f"{second}'s first check as the new leader",
        )
        takeovers["SIGTERM"] = time.monotonic() - termed_at
        assert leader.proc.wait(timeout=30) == 0
        set_active_count(db, 4500)  # 6 workers
        wait_until(lambda: fleet.size() == 6, 20, f"{second} to scale to 6")
        daemons[second].stop()
    finally:
        for daemon in daemons.values():
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.proc.kill()
                daemon.proc.wait()
        db_checks = HistoryStore(db).checks(limit=1000)[::-1]
        db.dispose()

    terms: dict[int, set[str]] = {}
    for c in db_checks:
        assert c.instance is not None and c.term is not None
        terms.setdefault(c.term, set()).add(c.instance)
    assert all(len(held) == 1 for held in terms.values())  # one instance per term
    # In the order the actions were taken: by term, then within a term by time. (By id, a frozen
    # leader's last row may come after its successor's: it was journaled once it woke.)
    acted = sorted((c for c in db_checks if c.executed), key=lambda c: (c.term, c.checked_at))
    calls = fleet.calls()
    # each call of the platform is one journaled action, by the same daemon
    assert calls == [(instances[c.instance], c.target_workers) for c in acted]
    counts = [n for _, n in calls]
    assert counts == sorted(set(counts)) and max(counts) == 6  # never twice, never beyond
    frozen_term = [c for c in db_checks if c.instance == new and c.term == second_term]
    assert frozen_term and all(c.checked_at < stopped_wall for c in frozen_term)
    print(f"\ntakeover (signal to the new leader's action): {takeovers}", file=sys.stderr)


def test_a_second_local_daemon_starts_no_workers_until_it_leads(tmp_path, base_env, sqlite_url):
    """The issue's case on the local platform: a second `run` on the same database resumed as many
    workers again (8 live for 4 wanted). Now it stands by with none, leaves the checks on a change
    of the mailboxes to the leader, and starts the stored count once the leader stops (whose own
    workers stop with it)."""
    env = dict(
        base_env,
        DATABASE_URL=sqlite_url,
        AUTO_SCALER_CHECK_INTERVAL_MS="300",
        AUTO_SCALER_SCALE_UP_COOLDOWN_MS="0",
        AUTO_SCALER_LEADER_LEASE_MS=str(LEASE_MS),
        AUTO_SCALER_REACT_ON_CHANGE="true",
        AUTO_SCALER_REACT_PROBE_INTERVAL_MS="100",
    )
    assert cli(tmp_path, env, "db", "init", "--demo").returncode == 0
    db = Database(sqlite_url)
    set_active_count(db, 1500)  # 2 workers
    runs: list[DaemonRun] = []

    def start(name: str) -> DaemonRun:
        (tmp_path / name).mkdir()
        run = DaemonRun(tmp_path / name, dict(env, AUTO_SCALER_API_PORT=str(free_port())))
        runs.append(run)
        return run.start()

    try:
        first = start("a")
        wait_until(lambda: len(first.workers()) == 2, 30, "the leader's 2 workers")
        second = start("b")
        wait_until(lambda: second.status()["currentWorkers"] == 2, 10, "b to follow a")
        assert second.status()["leader"]["role"] == "standby"
        assert second.workers() == []
        set_active_count(db, 1550)  # a change (no action): the leader checks at once, not b
        wait_until(
            lambda: any(c.trigger == "change" for c in HistoryStore(db).checks(limit=5)),
            10,
            "the leader's check on the change",
        )
        leader_instance = first.status()["leader"]["instance"]
        assert {c.instance for c in HistoryStore(db).checks(limit=1000)} == {leader_instance}
        first_workers = first.workers()
        assert first.stop() == 0
        wait_until(lambda: len(second.workers()) == 2, STOPPED_BOUND_S + 5, "b's 2 workers")
        assert second.status()["leader"]["role"] == "leader"
        assert not any(Path(f"/proc/{pid}").exists() for pid in first_workers)
        assert second.stop() == 0
    finally:
        db.dispose()
        for run in runs:
            if run.proc is not None and run.proc.poll() is None:
                run.proc.kill()
                run.proc.wait()
    assert not [line for line in second.log_lines() if line.get("level") in ("error", "critical")]
    elected = [line for line in second.log_lines() if line.get("event") == "resuming_fleet"]
    assert [line["workers"] for line in elected] == [2]
