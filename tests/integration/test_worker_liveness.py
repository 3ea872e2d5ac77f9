"""A real worker's liveness signal (its heartbeat file, checked by `worker-alive`) and the lease
count its drain reports, on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.integration.test_worker_process import TTL_MS, Workers, poll, workers  # noqa: F401


def alive(path: Path, max_age_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "warmup_autoscaler",
            "worker-alive",
            "--file",
            str(path),
            "--max-age",
            str(max_age_s),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_heartbeat_file_follows_the_heartbeats(workers: Workers, tmp_path: Path) -> None:  # noqa: F811
    """The worker touches its heartbeat file on each heartbeat: `worker-alive` passes while it
    runs, fails while it is stopped (SIGSTOP) past max-age, and passes again once it resumes."""
    beat = tmp_path / "worker.heartbeat"
    assert alive(beat, 1).returncode == 1  # no worker yet: no file
    proc = workers.start("a", worker_heartbeat_file=beat)
    workers.worker_id("a")
    poll(lambda: alive(beat, 1).returncode == 0, 15, "worker-alive to pass")
    proc.send_signal(signal.SIGSTOP)
    stopped = poll(lambda: (r := alive(beat, 1)).returncode == 1 and r, 15, "worker-alive to fail")
    assert stopped.stderr.startswith("not alive: last heartbeat ")
    proc.send_signal(signal.SIGCONT)
    resumed = poll(lambda: (r := alive(beat, 1)).returncode == 0 and r, 15, "it to pass again")
    assert resumed.stdout.startswith("alive: last heartbeat ")


def test_worker_drained_counts_every_lease_released_in_the_drain(workers: Workers) -> None:  # noqa: F811
    """`worker_drained` reports the leases released during the whole drain (here all 20, released
    as idle at its start), not only those left for the final release."""
    proc = workers.start("a", worker_cycle_interval_ms=3_600_000, worker_lease_ttl_ms=TTL_MS)
    a = workers.worker_id("a")
    poll(lambda: len(workers.owned_by(a)) == 20, 15, "a to own all 20 mailboxes")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    [drained] = workers.events("a", "worker_drained")
    assert drained["released"] == 20
