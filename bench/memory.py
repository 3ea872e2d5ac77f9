"""Resident memory of the daemon at rest, next to a bare uvicorn + FastAPI app in its own process.

The daemon is the real one, `python -m warmup_autoscaler run`, in a temporary folder: manual
platform, JSON logs, a SQLite database made by `warmup-autoscaler db init --demo` with a few
mailboxes, a free API port. "At rest" is a few seconds after `/api/auto-scaler/status` first shows
a check. The baseline is `bench/bare_app.py` (uvicorn + FastAPI, one endpoint), started the same way.
Each round starts both afresh, one after the other; VmRSS, RssAnon and RssFile come from
/proc/PID/status.

Then, for information (the issue names SQLite), the same daemon on PostgreSQL (a throwaway server),
which loads psycopg and libpq as a production daemon does; `BENCH_MEMORY_POSTGRES=0` skips it.

A second baseline, `bench/bare_app.py --sqlalchemy`, is the same bare app with SQLAlchemy
imported and one SQLite query run: the floor of any FastAPI service on SQLAlchemy, before any code
of ours.

Sizes: `BENCH_MEMORY_ROUNDS`, `BENCH_MEMORY_SETTLE_S` (or `--quick`).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from tests.support.postgres import _free_port

from bench.pg import throwaway_postgres

__all__ = ["GOAL_OVER_MB", "daemon_env", "measure", "prepare_daemon_dir", "run"]

GOAL_OVER_MB = 10.0  # the daemon may take at most this over bare FastAPI + uvicorn + SQLAlchemy
MAILBOXES = 850
CLI = [sys.executable, "-m", "warmup_autoscaler"]
BARE = [sys.executable, "-m", "bench.bare_app"]
ROOT = Path(__file__).resolve().parent.parent  # so `-m bench.bare_app` resolves from any cwd


def rss(pid: int) -> dict[str, float]:
    """VmRSS and its parts (anonymous memory, mapped files), in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def daemon_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTO_SCALER_")}
    env.pop("DATABASE_URL", None)
    env["AUTO_SCALER_PLATFORM"] = "manual"
    env["AUTO_SCALER_LOG_FORMAT"] = "json"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def prepare_daemon_dir(tmp: str, env: dict[str, str]) -> None:
    """`db init --demo` and a few mailboxes, as a user would set up a first try."""
    for args in (["db", "init", "--demo"], ["db", "seed", "--mailboxes", str(MAILBOXES)]):
        subprocess.run([*CLI, *args], cwd=tmp, env=env, check=True, capture_output=True)


def measure(
    argv: list[str],
    *,
    cwd: str,
    env: dict[str, str],
    url: str,
    ready: Callable[[httpx.Response], bool],
    settle_s: float,
) -> dict[str, float]:
    """Start `argv`, wait until `ready(GET url)`, then `settle_s`, and read its memory."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"{argv} exited with {proc.returncode}: {err[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not ready within 60 s")
            try:
                if ready(httpx.get(url, timeout=1)):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        time.sleep(settle_s)
        return rss(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        finally:
            if proc.stderr:
                proc.stderr.close()


def first_check_done(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.json().get("lastCheckAt") is not None


def daemon_sample(tmp: str, env: dict[str, str], settle_s: float) -> dict[str, float]:
    """One daemon started afresh and read at rest."""
    port = _free_port()
    return measure(
        [*CLI, "run"],
        cwd=tmp,
        env={**env, "AUTO_SCALER_API_PORT": str(port)},
        url=f"http://127.0.0.1:{port}/api/auto-scaler/status",
        ready=first_check_done,
        settle_s=settle_s,
    )


def bare_sample(tmp: str, env: dict[str, str], settle_s: float, *extra: str) -> dict[str, float]:
    """One bare app (`bench/bare_app.py PORT *extra`) started afresh and read at rest."""
    port = _free_port()
    return measure(
        [*BARE, str(port), *extra],
        cwd=tmp,
        env=env,
        url=f"http://127.0.0.1:{port}/healthz",
        ready=lambda r: r.status_code == 200,
        settle_s=settle_s,
    )


def run(*, quick: bool = False) -> dict[str, float]:
    rounds = int(os.environ.get("BENCH_MEMORY_ROUNDS", 1 if quick else 3))
    settle_s = float(os.environ.get("BENCH_MEMORY_SETTLE_S", 1 if quick else 3))
    ours: list[dict[str, float]] = []
    base: list[dict[str, float]] = []
    floor: list[dict[str, float]] = []
    env = daemon_env()
    with tempfile.TemporaryDirectory() as tmp:
        prepare_daemon_dir(tmp, env)
        for _ in range(rounds):  # alternate: one daemon, one bare app, ...
            ours.append(daemon_sample(tmp, env, settle_s))
            base.append(bare_sample(tmp, env, settle_s))
            floor.append(bare_sample(tmp, env, settle_s, "--sqlalchemy"))
    on_pg: list[dict[str, float]] = []
    if not quick and os.environ.get("BENCH_MEMORY_POSTGRES", "1") != "0":
        with throwaway_postgres("bench_memory") as url, tempfile.TemporaryDirectory() as tmp:
            if url is not None:
                pg_env = {**env, "DATABASE_URL": url}
                prepare_daemon_dir(tmp, pg_env)
                on_pg = [daemon_sample(tmp, pg_env, settle_s) for _ in range(rounds)]

    def med(samples: list[dict[str, float]], key: str) -> float:
        return statistics.median(s[key] for s in samples)

    o, b = med(ours, "VmRSS"), med(base, "VmRSS")
    print(f"{rounds} rounds, {settle_s:g} s after the first check (medians, MB):")
    rows = [("daemon", ours), ("bare uvicorn+FastAPI", base), ("  + SQLAlchemy", floor)]
    if on_pg:
        rows.append(("daemon on PostgreSQL", on_pg))
    for label, samples in rows:
        parts = ", ".join(f"{k} {med(samples, k):.1f}" for k in ("RssAnon", "RssFile", "VmHWM"))
        each = " ".join(f"{s['VmRSS']:.1f}" for s in samples)
        print(f"  {label:<22} VmRSS {med(samples, 'VmRSS'):5.1f} ({parts}; rounds: {each})")
    f = med(floor, "VmRSS")
    verdict = "met" if o - f <= GOAL_OVER_MB else "NOT met"
    print(
        f"daemon {o:.1f} MB, {o - f:+.1f} MB over FastAPI + uvicorn + SQLAlchemy "
        f"(goal <= +{GOAL_OVER_MB:g} MB: {verdict}); ratio to bare FastAPI {o / b:.2f}"
    )
    result = {"daemon_mb": o, "bare_mb": b, "ratio": o / b, "floor_mb": f}
    if on_pg:
        result["daemon_postgres_mb"] = med(on_pg, "VmRSS")
    return result
