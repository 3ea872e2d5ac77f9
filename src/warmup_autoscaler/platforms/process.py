"""Running a platform's command line tool: no shell, a timeout, and nothing left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

__all__ = ["run_bounded"]


def run_bounded(argv: list[str], *, timeout_s: float) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `argv`, run without a shell in a session of its own.

    On timeout the whole process group is killed (a CLI plugin or child holding the pipes open
    included) and `subprocess.TimeoutExpired` is raised; a program that cannot start raises
    `OSError`. Callers turn both into a `PlatformError` that names their setting.
    """
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return proc.returncode, out, err
