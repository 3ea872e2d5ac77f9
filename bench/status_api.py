"""Status endpoint throughput and p99 latency against a bare FastAPI endpoint, same server setup.

Both apps run in one uvicorn process each on loopback; 50 concurrent clients (httpx, asyncio) send a
bounded number of requests. The status app is the daemon's own API over a controller after a check.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

import httpx

from bench.memory import BARE, CLI, daemon_env


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _load(url: str, clients: int, per_client: int) -> tuple[float, float]:
    latencies: list[float] = []

    async def one(client: httpx.AsyncClient) -> None:
        for _ in range(per_client):
            t = time.perf_counter()
            r = await client.get(url)
            latencies.append(time.perf_counter() - t)
            r.raise_for_status()

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        start = time.perf_counter()
        await asyncio.gather(*(one(client) for _ in range(clients)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return len(latencies) / elapsed, latencies[int(len(latencies) * 0.99) - 1] * 1000


def _wrk(url: str, clients: int, seconds: int) -> tuple[float, float]:
    """Requests/s and p99 in ms from wrk (a C load generator: it is not the bottleneck)."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return rps, float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _wait(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never came up")


def run(*, quick: bool = False) -> dict[str, float]:
    clients, per_client, rounds = (50, 10, 2) if quick else (50, 60, 5)
    with tempfile.TemporaryDirectory() as tmp:
        env = daemon_env()
        cli = CLI
        subprocess.run(
            [*cli, "db", "init", "--demo"], cwd=tmp, env=env, check=True, capture_output=True
        )
        ours_port, bare_port = _port(), _port()
        env["AUTO_SCALER_API_PORT"] = str(ours_port)
        procs = [
            subprocess.Popen(
                [*cli, "run"],
                cwd=tmp,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [*BARE, str(bare_port)],
                cwd=tmp,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
        ]
        try:
            ours_url = f"http://127.0.0.1:{ours_port}/api/auto-scaler/status"
            bare_url = f"http://127.0.0.1:{bare_port}/healthz"
            _wait(ours_url)
            _wait(bare_url)
            ours, base, p99o, p99b = [], [], [], []
            use_wrk = shutil.which("wrk") is not None
            tool = (
                "wrk -t2 -c50" if use_wrk else "httpx (apt-get install wrk for a C load generator)"
            )

            def load(url: str) -> tuple[float, float]:
                if use_wrk:
                    return _wrk(url, clients, 3 if quick else 10)
                return asyncio.run(_load(url, clients, per_client))

            for _ in range(rounds):
                rps, p99 = load(bare_url)
                base.append(rps)
                p99b.append(p99)
                rps, p99 = load(ours_url)
                ours.append(rps)
                p99o.append(p99)
        finally:
            for p in procs:
                p.terminate()
                p.wait(30)
    o, b = statistics.median(ours), statistics.median(base)
    print(
        f"{tool}, {clients} concurrent clients, {rounds} alternating rounds (medians): "
        f"status {o:,.0f} req/s (p99 {statistics.median(p99o):.1f} ms); bare FastAPI {b:,.0f} req/s "
        f"(p99 {statistics.median(p99b):.1f} ms); ratio {o / b:.2f} (goal >= 0.8)"
    )
    return {"status_rps": o, "bare_rps": b}
