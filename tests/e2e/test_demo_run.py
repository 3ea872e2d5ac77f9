"""`make run`'s demo script as a user runs it, with their own `.env`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.conftest import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_takes_env_settings_over_its_own_and_names_the_real_port(tmp_path, base_env):
    """`.env` wins over the demo's intervals (and the environment over `.env`), only unset
    settings get the demo's values, and the banner names the port the daemon listens on."""
    port = free_port()
    (tmp_path / ".env").write_text(
        "AUTO_SCALER_CHECK_INTERVAL_MS=60000\n"
        f"AUTO_SCALER_API_PORT={port}\n"
        "AUTO_SCALER_PLATFORM=manual\n"
        "AUTO_SCALER_SCALE_DOWN_COOLDOWN_MS=40000\n"
    )
    env = {k: v for k, v in base_env.items() if k != "AUTO_SCALER_API_PORT"}
    env.update(
        BIN=str(Path(sys.executable).parent),
        DEMO_MAILBOXES="850",
        AUTO_SCALER_SCALE_DOWN_COOLDOWN_MS="33000",
    )
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "demo-run.sh")],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"

        def status():
            if proc.poll() is not None:
                raise AssertionError(f"the demo exited {proc.returncode}:\n{log.read_text()}")
            try:
                return httpx.get(f"{url}/api/auto-scaler/status", timeout=2).json()
            except httpx.HTTPError:
                return None

        config = wait_until(status, 60, "the demo's API")["config"]
        assert config["checkIntervalMs"] == 60000  # .env over the demo's 5000
        assert config["scaleUpCooldownMs"] == 10000  # the demo's, set nowhere else
        assert config["scaleDownCooldownMs"] == 33000  # the environment over .env
        banner = [line for line in log.read_text().splitlines() if line.startswith("Dashboard:")]
        assert banner == [
            f"Dashboard: {url}/  API: {url}/api/auto-scaler/status  "
            "(Ctrl-C stops the daemon and its workers)"
        ]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
