"""The daemon under load and under hostile requests.

1. **Status under 200 clients while checks run**: the real daemon (manual platform, SQLite with
   `BENCH_HOSTILE_MAILBOXES` demo mailboxes, a check every `BENCH_HOSTILE_INTERVAL_MS`) serves
   `GET /api/auto-scaler/status` to `wrk -t2 -c200` for `BENCH_HOSTILE_SECONDS`, against the bare
   uvicorn + FastAPI app (`bench/bare_app.py`) under the same load, alternating, medians of
   `BENCH_HOSTILE_ROUNDS`. Reported: requests/s and p99 latency, and how many checks ran meanwhile.
2. **Memory after malformed requests**: the same daemon gets `BENCH_HOSTILE_REQUESTS` (10,000)
   malformed requests from 50 concurrent raw connections, ten kinds in turn (a 100 MB
   Content-Length without a token, with a wrong token, with the token; a 64 KB chunked body; JSON
   that does not parse; `NaN`, `true` and a 600-character reason for `minutes`; history with an
   id over 2^63 and a time before year 1 in UTC). Its VmRSS is read after 500 valid requests
   (before) and after the malformed ones (after), each after 2 s at rest; goal: within 5 MB.

Needs `wrk` (Debian package) for part 1; without it part 1 is skipped with a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from typing import Any

import httpx

from bench.memory import BARE, CLI, daemon_env, rss
from bench.status_api import _port, _wait, _wrk

GOAL_MB = 5.0
TOKEN = "bench-hostile-admin-token"
PAUSE = "/api/auto-scaler/pause"
HUGE = str(100 * 1024 * 1024)


def _request(kind: int, port: int) -> bytes:
    """The raw bytes of malformed request number `kind` (0-9)."""
    host = f"Host: 127.0.0.1:{port}\r\n"
    auth = f"Authorization: Bearer {TOKEN}\r\n"
    json_type = "Content-Type: application/json\r\n"

    def post(headers: str, body: bytes) -> bytes:
        length = f"Content-Length: {len(body)}\r\n"
        return f"POST {PAUSE} HTTP/1.1\r\n{host}{headers}{length}\r\n".encode() + body

    if kind == 0:  # 100 MB announced, no token: only 64 KB of it is sent
        return (
            f"POST {PAUSE} HTTP/1.1\r\n{host}{json_type}Content-Length: {HUGE}\r\n\r\n".encode()
            + b"x" * 65536
        )
    if kind == 1:  # the same with a wrong token
        head = f"POST {PAUSE} HTTP/1.1\r\n{host}Authorization: Bearer wrong\r\nContent-Length: {HUGE}\r\n\r\n"
        return head.encode() + b"x" * 65536
    if kind == 2:  # the same with the token
        return (
            f"POST {PAUSE} HTTP/1.1\r\n{host}{auth}Content-Length: {HUGE}\r\n\r\n".encode()
            + b"x" * 65536
        )
    if kind == 3:  # 64 KB chunked
        chunk = b"10000\r\n" + b"{" * 65536 + b"\r\n"
        return (
            f"POST {PAUSE} HTTP/1.1\r\n{host}{auth}Transfer-Encoding: chunked\r\n\r\n".encode()
            + chunk
        )
    if kind == 4:
        return post(auth + json_type, b'{"minutes": 5')
    if kind == 5:
        return post(auth + json_type, b'{"minutes": NaN}')
    if kind == 6:
        return post(auth + json_type, b'{"minutes": true}')
    if kind == 7:
        return post(auth + json_type, b'{"reason": "' + b"r" * 600 + b'"}')
    path = (
        "/api/auto-scaler/history?before=99999999999999999999999"
        if kind == 8
        else "/api/auto-scaler/history?since=0001-01-01T00:00:00%2B14:00"
    )
    return f"GET {path} HTTP/1.1\r\n{host}Connection: close\r\n\r\n".encode()


async def _send_one(port: int, kind: int) -> int:
    """Send one malformed request on its own connection; the status code answered (0: none)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(_request(kind, port))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 30)
        return int(line.split()[1]) if line.startswith(b"HTTP/") else 0
    except (TimeoutError, ConnectionError):
        return 0
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _malformed(port: int, total: int, concurrency: int = 50) -> Counter[int]:
    codes: Counter[int] = Counter()
    queue = iter(range(total))

    async def worker() -> None:
        for n in queue:
            codes[await _send_one(port, n % 10)] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return codes


async def _valid(url: str, total: int) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(total):
            (await client.get(url)).raise_for_status()


def _start(argv: list[str], cwd: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def run(*, quick: bool = False) -> dict[str, float]:
    rounds = int(os.environ.get("BENCH_HOSTILE_ROUNDS", 1 if quick else 3))
    seconds = int(os.environ.get("BENCH_HOSTILE_SECONDS", 3 if quick else 10))
    mailboxes = int(os.environ.get("BENCH_HOSTILE_MAILBOXES", 20_000 if quick else 200_000))
    interval_ms = int(os.environ.get("BENCH_HOSTILE_INTERVAL_MS", 200))
    total = int(os.environ.get("BENCH_HOSTILE_REQUESTS", 1000 if quick else 10_000))
    result: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **daemon_env(),
            "AUTO_SCALER_ADMIN_TOKEN": TOKEN,
            "AUTO_SCALER_CHECK_INTERVAL_MS": str(interval_ms),
        }
        for args in (["db", "init", "--demo"], ["db", "seed", "--mailboxes", str(mailboxes)]):
            subprocess.run([*CLI, *args], cwd=tmp, env=env, check=True, capture_output=True)
        port, bare_port = _port(), _port()
        env["AUTO_SCALER_API_PORT"] = str(port)
        daemon = _start([*CLI, "run"], tmp, env)
        bare = _start([*BARE, str(bare_port)], tmp, env)
        try:
            status_url = f"http://127.0.0.1:{port}/api/auto-scaler/status"
            _wait(status_url)
            _wait(f"http://127.0.0.1:{bare_port}/healthz")
            if shutil.which("wrk"):
                result.update(
                    _load(
                        status_url, f"http://127.0.0.1:{bare_port}/healthz", rounds, seconds, port
                    )
                )
                print(
                    f"wrk -t2 -c200, {rounds} x {seconds} s alternating (medians), a check every "
                    f"{interval_ms} ms on {mailboxes:,} mailboxes: status {result['status_rps']:,.0f} req/s, "
                    f"p99 {result['status_p99_ms']:.1f} ms ({result['checks_per_s']:.1f} checks/s "
                    f"meanwhile); bare FastAPI {result['bare_rps']:,.0f} req/s, p99 "
                    f"{result['bare_p99_ms']:.1f} ms"
                )
            else:
                print("wrk not found (apt-get install wrk): the 200-client load is skipped")
            asyncio.run(_valid(status_url, 500))
            time.sleep(2)
            before = rss(daemon.pid)["VmRSS"]
            started = time.perf_counter()
            codes = asyncio.run(_malformed(port, total))
            took = time.perf_counter() - started
            time.sleep(2)
            after = rss(daemon.pid)["VmRSS"]
        finally:
            for proc in (daemon, bare):
                proc.terminate()
                proc.wait(30)
    verdict = "met" if after - before <= GOAL_MB else "NOT met"
    answered = ", ".join(f"{code or 'none'}: {n}" for code, n in sorted(codes.items()))
    print(
        f"{total:,} malformed requests in {took:.1f} s (answers {answered}); daemon VmRSS "
        f"{before:.1f} MB before, {after:.1f} MB after ({after - before:+.1f} MB; goal within "
        f"{GOAL_MB:g} MB: {verdict})"
    )
    return {**result, "rss_before_mb": before, "rss_after_mb": after, "malformed": float(total)}


def _load(ours: str, bare: str, rounds: int, seconds: int, port: int) -> dict[str, Any]:
    o_rps, o_p99, b_rps, b_p99, checks = [], [], [], [], []
    for _ in range(rounds):
        rps, p99 = _wrk(bare, 200, seconds)
        b_rps.append(rps)
        b_p99.append(p99)
        first = _check_count(port)
        started = time.monotonic()
        rps, p99 = _wrk(ours, 200, seconds)
        checks.append((_check_count(port) - first) / (time.monotonic() - started))
        o_rps.append(rps)
        o_p99.append(p99)
    med = statistics.median
    return {
        "status_rps": med(o_rps),
        "status_p99_ms": med(o_p99),
        "bare_rps": med(b_rps),
        "bare_p99_ms": med(b_p99),
        "checks_per_s": med(checks),
    }


def _check_count(port: int) -> float:
    """Checks run so far, from the daemon's own counter in /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("warmup_autoscaler_checks_total{")
    )
