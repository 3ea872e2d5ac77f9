"""Run the real `warmup-autoscaler` CLI and daemon as a user would, in a scratch directory."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

SLEEPER = """\
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(3600)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


def children(pid: int) -> list[int]:
    """Live (non-zombie) direct children of `pid`, from the process table."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry))
    return sorted(found)


class DaemonRun:
    """One `warmup-autoscaler run` process with its environment and API client."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.port = int(env["AUTO_SCALER_API_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "daemon.log"

    def start(self) -> DaemonRun:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "warmup_autoscaler", "run"],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._up, 30, "the daemon's API")
        return self

    def _up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log.read_text()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def status(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/api/auto-scaler/status", timeout=10).json())

    def workers(self) -> list[int]:
        assert self.proc is not None
        return children(self.proc.pid)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        return code

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def cli(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warmup_autoscaler", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no inherited AUTO_SCALER_* settings and a sleeping stand-in worker."""
    worker = tmp_path / "sleeper.py"
    worker.write_text(SLEEPER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTO_SCALER_")}
    env.pop("DATABASE_URL", None)
    env.update(
        AUTO_SCALER_API_PORT=str(free_port()),
        AUTO_SCALER_LOCAL_WORKER_COMMAND=f"{sys.executable} {worker}",
        AUTO_SCALER_LOCAL_STOP_GRACE_MS="5000",
        AUTO_SCALER_LOG_FORMAT="json",
        AUTO_SCALER_ADMIN_TOKEN="e2e-admin-token-0123",
    )
    return env


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], DaemonRun]]:
    runs: list[DaemonRun] = []

    def make(env: dict[str, str]) -> DaemonRun:
        run = DaemonRun(tmp_path, env)
        runs.append(run)
        return run

    yield make
    for run in runs:
        if run.proc is not None and run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
