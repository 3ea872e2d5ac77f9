"""The command platform driving a real PM2 (`npm install -g pm2`), and ecosystem.config.js.

Each test runs its own PM2 daemon under an isolated PM2_HOME and kills it at the end. Without
`pm2` (or `node`) on PATH the tests are skipped, or fail when CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from warmup_autoscaler.platforms.command import CommandPlatform

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 30.0
DRAIN_TIMEOUT_MS = 25_000  # AUTO_SCALER_WORKER_DRAIN_TIMEOUT_MS's default

# A stand-in worker: records how it was started, runs until SIGINT or SIGTERM, records which.
APP = """
import json, os, pathlib, signal, sys, time
out = pathlib.Path(os.environ["APP_OUT"])
pid = os.getpid()
(out / f"started-{pid}.json").write_text(json.dumps({
    "argv": sys.argv[1:],
    "cwd": os.getcwd(),
    "env": {k: v for k, v in os.environ.items() if k.startswith("AUTO_SCALER_")},
}))
def stop(signum, frame):
    (out / f"stopped-{pid}").write_text(signal.Signals(signum).name)
    sys.exit(0)
signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
while True:
    time.sleep(0.05)
"""
# The current-workers command for PM2: how many processes named argv[1] `pm2 jlist` shows online.
COUNT_ONLINE = """
import json, subprocess, sys
out = subprocess.run(["pm2", "jlist"], capture_output=True, text=True, check=True).stdout
apps = json.loads(out[out.index("["):])
print(sum(1 for a in apps if a["name"] == sys.argv[1] and a["pm2_env"]["status"] == "online"))
"""


INSTALL = {"node": "apt-get install nodejs npm", "pm2": "npm install -g pm2"}


def require(program: str) -> str:
    """The program's path; skip without it, or fail under CI=true."""
    path = shutil.which(program)
    if path is None:
        message = f"`{program}` is not on PATH: {INSTALL[program]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def write_script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n{textwrap.dedent(body)}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT_S) -> None:
    """Poll `predicate` until it is true; fail naming `what` if the deadline passes first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.05)


class Pm2:
    """The pm2 CLI bound to one PM2_HOME (set in this process's environment by the fixture)."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def __call__(self, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(
            ["pm2", *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
        )
        assert done.returncode == 0, f"pm2 {' '.join(args)} failed: {done.stdout}{done.stderr}"
        return done.stdout

    def apps(self, name: str) -> list[dict[str, Any]]:
        out = self("jlist")
        return [a for a in json.loads(out[out.index("[") :]) if a["name"] == name]

    def online_pids(self, name: str) -> set[int]:
        return {a["pid"] for a in self.apps(name) if a["pm2_env"]["status"] == "online"}


@pytest.fixture
def pm2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pm2]:
    """A PM2 daemon of its own; `pm2 kill` at the end, whatever happened."""
    require("node")
    require("pm2")
    # Short path: PM2's unix sockets live in PM2_HOME and socket paths are limited to 107 bytes.
    home = Path(tempfile.mkdtemp(prefix="pm2-"))
    monkeypatch.setenv("PM2_HOME", str(home))
    monkeypatch.delenv("PM2_KILL_SIGNAL", raising=False)
    runner = Pm2(home)
    try:
        yield runner
    finally:
        subprocess.run(["pm2", "kill"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(home, ignore_errors=True)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_command_platform_scales_a_pm2_app_one_to_three_to_one(
    pm2: Pm2, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pm2 scale NAME {replicas}` and a jlist count drive a real PM2 app 1 -> 3 -> 1."""
    name = f"warmup-test-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("APP_OUT", str(out))
    app = write_script(tmp_path / "app", APP)
    counter = write_script(tmp_path / "count-online", COUNT_ONLINE)
    pm2("start", str(app), "--name", name, "--interpreter", "none", "--kill-timeout", "5000")
    wait_until(lambda: len(pm2.online_pids(name)) == 1, "the app is online once")

    platform = CommandPlatform(
        scale_command=f"pm2 scale {name} {{replicas}}",
        current_workers_command=f"{counter} {name}",
        timeout_s=60,
    )
    assert platform.current_workers() == 1
    platform.scale_to(3)
    wait_until(lambda: platform.current_workers() == 3, "three online after scale_to(3)")
    pids = pm2.online_pids(name)
    assert len(pids) == 3 and all(alive(pid) for pid in pids)
    wait_until(lambda: len(list(out.glob("started-*.json"))) == 3, "three processes started")

    platform.scale_to(1)
    wait_until(lambda: platform.current_workers() == 1, "one online after scale_to(1)")
    (kept,) = pm2.online_pids(name)
    stopped = pids - {kept}
    wait_until(lambda: not any(alive(pid) for pid in stopped), "the two removed processes exit")
    assert {p.name for p in out.glob("stopped-*")} == {f"stopped-{pid}" for pid in stopped}
    # PM2's stop signal is SIGINT: what ecosystem.config.js says the worker must drain on.
    assert {p.read_text() for p in out.glob("stopped-*")} == {"SIGINT"}
    assert len(pm2.apps(name)) == 1  # scaled-down processes are deleted, not left stopped


def node_config() -> dict[str, Any]:
    """ecosystem.config.js as node evaluates it."""
    done = subprocess.run(
        [
            require("node"),
            "-e",
            "process.stdout.write(JSON.stringify(require('./ecosystem.config.js')))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = json.loads(done.stdout)
    return config


def test_ecosystem_file_parses_and_has_the_two_apps() -> None:
    """node loads ecosystem.config.js: the auto-scaler on the command platform and the workers."""
    apps = {app["name"]: app for app in node_config()["apps"]}
    assert set(apps) == {"auto-scaler", "warmup-worker"}
    binary = str(ROOT / ".venv" / "bin" / "warmup-autoscaler")
    scaler, worker = apps["auto-scaler"], apps["warmup-worker"]
    assert (scaler["script"], scaler["args"], scaler["interpreter"]) == (binary, "run", "none")
    assert (worker["script"], worker["args"], worker["interpreter"]) == (binary, "worker", "none")
    assert scaler["env"] == {
        "AUTO_SCALER_PLATFORM": "command",
        "AUTO_SCALER_SCALE_COMMAND": "pm2 scale warmup-worker {replicas}",
    }
    assert worker["env"] == {"AUTO_SCALER_ADMIN_TOKEN": ""}  # the workers never get the token
    assert worker["kill_timeout"] > DRAIN_TIMEOUT_MS
    # The auto-scaler's settings build a command platform counting from the worker registry.
    CommandPlatform(
        scale_command=scaler["env"]["AUTO_SCALER_SCALE_COMMAND"], live_workers=lambda: 1
    )


def test_ecosystem_file_runs_under_pm2_and_its_scale_command_works(
    pm2: Pm2, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pm2 start ecosystem.config.js` starts both apps as configured; its scale command scales."""
    project = tmp_path / "project"
    (project / ".venv" / "bin").mkdir(parents=True)
    shutil.copy(ROOT / "ecosystem.config.js", project)
    write_script(project / ".venv" / "bin" / "warmup-autoscaler", APP)  # a stand-in binary
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("APP_OUT", str(out))
    pm2("start", "ecosystem.config.js", cwd=project)
    wait_until(
        lambda: (
            len(pm2.online_pids("auto-scaler")) == 1 and len(pm2.online_pids("warmup-worker")) == 1
        ),
        "both apps online",
    )
    wait_until(lambda: len(list(out.glob("started-*.json"))) == 2, "both apps started")
    started = {
        tuple(info["argv"]): info
        for info in (json.loads(p.read_text()) for p in out.glob("started-*.json"))
    }
    assert set(started) == {("run",), ("worker",)}
    assert started[("run",)]["cwd"] == str(project)
    scale_command = started[("run",)]["env"]["AUTO_SCALER_SCALE_COMMAND"]
    assert started[("run",)]["env"]["AUTO_SCALER_PLATFORM"] == "command"
    assert "AUTO_SCALER_CURRENT_WORKERS_COMMAND" not in started[("run",)]["env"]

    platform = CommandPlatform(
        scale_command=scale_command,
        live_workers=lambda: len(pm2.online_pids("warmup-worker")),
        timeout_s=60,
    )
    platform.scale_to(3)
    wait_until(lambda: platform.current_workers() == 3, "three workers after scale_to(3)")
    platform.scale_to(1)
    wait_until(lambda: platform.current_workers() == 1, "one worker after scale_to(1)")
    assert len(pm2.online_pids("auto-scaler")) == 1
    worker_app = pm2.apps("warmup-worker")[0]["pm2_env"]
    assert worker_app["kill_timeout"] == 30000
