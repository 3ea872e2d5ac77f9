"""Resident memory of the daemon at rest, next to a bare uvicorn + FastAPI app in its own process."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BARE_APP = """
import uvicorn
from fastapi import FastAPI
app = FastAPI()
@app.get("/healthz")
def healthz():
    return {"status": "ok"}
uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning")
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _measure(argv: list[str], cwd: str, env: dict[str, str], url: str, ready: str) -> float:
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if ready in httpx.get(url, timeout=1).text:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        time.sleep(3)  # at rest: after start-up and the first check
        return _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


def run(*, quick: bool = False) -> dict[str, float]:
    rounds = 1 if quick else 3
    ours, base = [], []
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTO_SCALER_")}
        env.update(AUTO_SCALER_PLATFORM="manual", AUTO_SCALER_LOG_FORMAT="json")
        cli = [sys.executable, "-m", "warmup_autoscaler"]
        subprocess.run(
            [*cli, "db", "init", "--demo"], cwd=tmp, env=env, check=True, capture_output=True
        )
        subprocess.run(
            [*cli, "db", "seed", "--mailboxes", "850"],
            cwd=tmp,
            env=env,
            check=True,
            capture_output=True,
        )
        (Path(tmp) / "bare.py").write_text(BARE_APP)
        for _ in range(rounds):
            port = _port()
            env["AUTO_SCALER_API_PORT"] = str(port)
            ours.append(
                _measure(
                    [*cli, "run"],
                    tmp,
                    env,
                    f"http://127.0.0.1:{port}/api/auto-scaler/status",
                    'lastCheckAt":"',
                )
            )
            port = _port()
            base.append(
                _measure(
                    [sys.executable, "bare.py", str(port)],
                    tmp,
                    env,
                    f"http://127.0.0.1:{port}/healthz",
                    "ok",
                )
            )
    o, b = statistics.median(ours), statistics.median(base)
    print(
        f"daemon at rest: {o:.1f} MB RSS; bare uvicorn+FastAPI: {b:.1f} MB; ratio {o / b:.2f} (goal: daemon < 60 MB)"
    )
    return {"daemon_mb": o, "bare_mb": b}
