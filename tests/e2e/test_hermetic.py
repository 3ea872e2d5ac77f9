"""The test suite itself is hermetic: the caller's settings and the checkout's `.env` never leak in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Settings a user may well have in their shell or in the `.env` the README tells them to create;
# each changes what the controller and the API tests expect.
HOSTILE = {
    "AUTO_SCALER_ENABLED": "false",
    "AUTO_SCALER_MAILBOXES_PER_WORKER": "500",
    "AUTO_SCALER_DRY_RUN": "true",
}


def test_unit_tests_pass_with_settings_in_the_shell_and_a_dotenv(tmp_path):
    """The controller, pause and API unit tests pass with hostile settings in the environment and
    a two-line `.env` in the folder pytest is started from."""
    (tmp_path / ".env").write_text("AUTO_SCALER_PLATFORM=docker\nAUTO_SCALER_MAX_WORKERS=3\n")
    env = {**os.environ, **HOSTILE}
    tests = [
        str(ROOT / "tests" / "unit" / name)
        for name in ("test_controller.py", "test_pause_dry_run.py", "test_api.py", "test_config.py")
    ]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--rootdir={ROOT}",
            "-c",
            str(ROOT / "pyproject.toml"),
            *tests,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
