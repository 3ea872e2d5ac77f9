"""A bulk import committed -> the scale action starts, with the change trigger and without.

Real daemons (`python -m warmup_autoscaler run`) on the local platform against a throwaway
PostgreSQL server, each on a database of its own made by `db init --demo`: one worker, a 5-minute
check interval (`BENCH_REACTION_INTERVAL_MS`), step mode. A worker is a bash one-liner that appends
its index and `$EPOCHREALTIME` to a file and then sleeps, so "the scale action starts" is when the
second worker's process starts, read from that file; the time is taken from the commit's return.

- **notify**: `AUTO_SCALER_REACT_ON_CHANGE=true`, the trigger installed by `db init`, debounce 1 s.
- **probe**: the same without the trigger (`AUTO_SCALER_REACT_METHOD=probe`, probe every 2 s).
- **interval only** (the baseline): `AUTO_SCALER_REACT_ON_CHANGE=false` (`--quick`: a 30 s
  interval; the reacting daemons keep 5 minutes).

Each run commits 3,500 active mailboxes in one transaction. notify and probe take turns for
`BENCH_REACTION_RUNS` runs each; between runs the rows are deleted, the fleet goes back to one
worker (cooldowns are 0 so that runs do not wait on each other) and stays quiet for 3 s. The
baseline cannot be reset without waiting an interval, so `BENCH_REACTION_BASELINE_RUNS` daemons
run at once, each committing once at an evenly spread phase of its interval (the first at 1/10,
... of it): a commit lands at a random moment of a real interval-only daemon's interval, and
spreading the phases measures that distribution rather than one draw of it.

Then a burst on the notify daemon: 1,000 single-row commits (paused mailboxes, so the fleet
stays put) paced evenly over 5 s (`BENCH_REACTION_BURST`, `BENCH_REACTION_BURST_S`); the extra
checks are the `change` rows in the journal once it has been quiet for 3 s. Last, what the
trigger and the probes cost (bench/reaction_costs.py).
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from tests.support.postgres import _free_port

from bench import reaction_costs
from bench.memory import CLI, daemon_env
from bench.pg import throwaway_postgres

__all__ = ["run"]

IMPORT = 3500  # 3,500 on 1 worker of 1,000: 350%, a scale-up
GOAL_S = 1.0
BURST_BOUND = 6
QUIET_S = 3.0  # quiet time before each run and after the burst: beyond the 1 s debounce window
POLL_S = 0.002
REACTING_INTERVAL_MS = 300_000  # the reacting daemons' interval, also under --quick


class Fleet:
    """One real daemon on the local platform, on its own database, whose workers note their start."""

    def __init__(self, name: str, url: str, root: Path, interval_ms: int, **env: str) -> None:
        self.name, self.url = name, url
        self.dsn = url.replace("+psycopg", "")
        self.dir = root / name
        self.dir.mkdir()
        self.spawn_file = self.dir / "spawned"
        self.spawn_file.touch()
        script = f'echo "$AUTO_SCALER_WORKER_INDEX $EPOCHREALTIME" >> {self.spawn_file}; exec sleep 86400'
        self.port = _free_port()
        self.env = {
            **daemon_env(),
            "LC_ALL": "C",
            "DATABASE_URL": url,
            "AUTO_SCALER_PLATFORM": "local",
            "AUTO_SCALER_LOCAL_WORKER_COMMAND": shlex.join(["bash", "-c", script]),
            "AUTO_SCALER_LOCAL_STOP_GRACE_MS": "2000",
            "AUTO_SCALER_CHECK_INTERVAL_MS": str(interval_ms),
            "AUTO_SCALER_SCALE_UP_COOLDOWN_MS": "0",
            "AUTO_SCALER_SCALE_DOWN_COOLDOWN_MS": "0",
            "AUTO_SCALER_API_PORT": str(self.port),
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        subprocess.run([*CLI, "db", "init", "--demo"], cwd=self.dir, env=self.env, check=True)
        with (self.dir / "daemon.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [*CLI, "run"], cwd=self.dir, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.wait(lambda: self.workers() == 1 and len(self.spawned()) == 1, 120, "1 worker")

    def status(self) -> dict[str, Any]:
        try:
            return dict(httpx.get(f"http://127.0.0.1:{self.port}/api/auto-scaler/status").json())
        except httpx.HTTPError:
            return {}

    def workers(self) -> int | None:
        value = self.status().get("currentWorkers")
        return None if value is None else int(value)

    def spawned(self) -> list[float]:
        """When each worker process started, in epoch seconds."""
        return [float(line.split()[1]) for line in self.spawn_file.read_text().splitlines()]

    def wait(self, predicate: Any, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            assert self.proc is not None and self.proc.poll() is None, f"{self.name} exited"
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: no {what} within {timeout_s:.0f} s")
            time.sleep(0.05)

    def react(self, timeout_s: float) -> tuple[float, str]:
        """Commit the import; seconds until the next worker started, and the check's trigger."""
        before, last_id = len(self.spawned()), self.last_id()
        with psycopg.connect(self.dsn) as conn:
            conn.execute(
                "INSERT INTO mailboxes (email) SELECT 'import-' || g || '@x' "
                "FROM generate_series(1, %s) g",
                (IMPORT,),
            )
            conn.commit()
            committed = time.time()
        deadline = time.monotonic() + timeout_s
        while len(self.spawned()) == before:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: no scale action within {timeout_s:.0f} s")
            time.sleep(POLL_S)
        self.wait(lambda: self.journal("scale-up", last_id), 30, "the journaled scale-up")
        return self.spawned()[before] - committed, self.journal("scale-up", last_id)[0][1]

    def last_id(self) -> int:
        return max((i for i, _ in self.journal()), default=0)

    def journal(self, action: str | None = None, after: int = 0) -> list[tuple[int, str]]:
        """(id, trigger) of the journaled checks after id `after`, of `action` if given."""
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute(
                "SELECT id, trigger FROM autoscaler_checks "
                "WHERE id > %(after)s AND (%(a)s::text IS NULL OR action = %(a)s) ORDER BY id",
                {"a": action, "after": after},
            ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    def reset(self) -> None:
        """Back to one worker and no imported rows, then quiet."""
        with psycopg.connect(self.dsn) as conn:
            conn.execute("DELETE FROM mailboxes WHERE email LIKE 'import-%'")
        self.wait(lambda: self.workers() == 1, 60, "scale-down to 1 worker")
        time.sleep(QUIET_S)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)


def _database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _baseline(
    fleet: Fleet, phase: float, interval_s: float, out: list[float], stop: threading.Event
) -> None:
    """Start, wait `phase` of the interval after the startup check, commit, time the reaction."""
    try:
        fleet.start()
        if stop.wait(phase * interval_s):
            return
        seconds, trigger = fleet.react(interval_s + 60)
        assert trigger == "interval", trigger
        out.append(seconds)
    except Exception as exc:
        if not stop.is_set():
            print(f"{fleet.name} failed: {exc!r}", flush=True)
    finally:
        fleet.stop()


def _burst(fleet: Fleet, commits: int, span_s: float) -> tuple[int, float]:
    """Paced single-row commits; the change checks they caused, and how long they took."""
    before = fleet.last_id()
    with psycopg.connect(fleet.dsn, autocommit=True) as conn:
        start = time.monotonic()
        for i in range(commits):
            pause = start + i * span_s / commits - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            conn.execute(
                "INSERT INTO mailboxes (email, status) VALUES (%s, 'paused')", (f"burst-{i}@x",)
            )
        took = time.monotonic() - start
    time.sleep(QUIET_S)
    checks = [t for _, t in fleet.journal(after=before)]
    if any(t != "change" for t in checks):
        print(f"  (other checks during the burst, not counted: {checks})")
    return checks.count("change"), took


def run(*, quick: bool = False) -> dict[str, float]:
    runs = int(os.environ.get("BENCH_REACTION_RUNS", 3 if quick else 10))
    baseline_runs = int(os.environ.get("BENCH_REACTION_BASELINE_RUNS", 2 if quick else 5))
    interval_ms = int(os.environ.get("BENCH_REACTION_INTERVAL_MS", 30_000 if quick else 300_000))
    commits = int(os.environ.get("BENCH_REACTION_BURST", 1000))
    span_s = float(os.environ.get("BENCH_REACTION_BURST_S", 5))
    interval_s = interval_ms / 1000
    with throwaway_postgres("bench_reaction") as url, tempfile.TemporaryDirectory() as tmp:
        if url is None:
            return {}
        root = Path(tmp)
        react = {"AUTO_SCALER_REACT_ON_CHANGE": "true"}
        notify = Fleet("notify", _database(url, "notify"), root, REACTING_INTERVAL_MS, **react)
        probe = Fleet(
            "probe",
            _database(url, "probe"),
            root,
            REACTING_INTERVAL_MS,
            **react,
            AUTO_SCALER_REACT_METHOD="probe",
        )
        base = [
            Fleet(f"interval{i}", _database(url, f"interval{i}"), root, interval_ms)
            for i in range(baseline_runs)
        ]
        base_times: list[float] = []
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=_baseline,
                args=(f, (i + 0.5) / baseline_runs, interval_s, base_times, stop),
            )
            for i, f in enumerate(base)
        ]
        for t in threads:
            t.start()
        times: dict[str, list[float]] = {"notify": [], "probe": []}
        try:
            for fleet in (notify, probe):
                fleet.start()
                time.sleep(QUIET_S)
            for i in range(runs):
                for fleet in (notify, probe) if i % 2 == 0 else (probe, notify):
                    seconds, trigger = fleet.react(60)
                    assert trigger == "change", (fleet.name, trigger)
                    times[fleet.name].append(seconds)
                    fleet.reset()
            print(f"burst: {commits:,} single-row commits over {span_s:g} s ...", flush=True)
            burst_checks, burst_s = _burst(notify, commits, span_s)
            costs = reaction_costs.measure(url, quick=quick)
        except BaseException:
            stop.set()
            raise
        finally:
            notify.stop()
            probe.stop()
            print(f"waiting for the {baseline_runs} interval-only daemons ...", flush=True)
            for t in threads:
                t.join()
    if len(base_times) != baseline_runs:
        raise RuntimeError("an interval-only run failed (see above)")
    med = {name: statistics.median(values) for name, values in times.items()}
    med_base = statistics.median(base_times)
    print(f"commit of {IMPORT:,} mailboxes -> scale action starts (s), {runs} runs each:")
    for name, values in (*times.items(), ("interval only", base_times)):
        each = " ".join(f"{v:.3f}" for v in values)
        print(f"  {name:<14} median {statistics.median(values):8.3f}  ({each})")
    verdict = "met" if med["notify"] <= GOAL_S else "NOT met"
    print(f"notify median {med['notify']:.3f} s (goal <= {GOAL_S:g} s: {verdict})")
    print(
        f"burst: {burst_checks} extra checks for {commits:,} commits in {burst_s:.2f} s "
        f"(goal <= {BURST_BOUND}: {'met' if burst_checks <= BURST_BOUND else 'NOT met'})"
    )
    return {
        "notify_s": med["notify"],
        "probe_s": med["probe"],
        "interval_s": med_base,
        "burst_checks": float(burst_checks),
        **costs,
    }
