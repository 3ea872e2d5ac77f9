"""A worker's liveness signal: a file it touches after each successful heartbeat.

`warmup-autoscaler worker-alive` checks the file's age, for a Kubernetes exec probe or a Compose
healthcheck. A worker whose file is older than the lease TTL has not renewed its leases for that
long, so they have expired and others took its mailboxes: restarting it loses nothing. The check
imports nothing heavy (no settings classes, no SQLAlchemy), because a probe runs it every few
seconds: it reads the two variables it needs from the environment, as the probe gets them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from warmup_autoscaler.logs import get_logger

__all__ = ["FILE_VAR", "TTL_VAR", "heartbeat_age_s", "main", "touch_heartbeat"]

FILE_VAR = "AUTO_SCALER_WORKER_HEARTBEAT_FILE"  # WorkerSettings.heartbeat_file
TTL_VAR = "AUTO_SCALER_WORKER_LEASE_TTL_MS"  # WorkerSettings.lease_ttl_ms
DEFAULT_TTL_MS = 30_000

log = get_logger("warmup_autoscaler.worker")
_failed: set[Path] = set()  # files already reported unwritable (reported once, not per beat)


def touch_heartbeat(path: Path) -> None:
    """Set the file's modification time to now (creating it); a failure is logged once."""
    try:
        path.touch()
    except OSError as exc:
        if path not in _failed:
            _failed.add(path)
            log.warning("heartbeat_file_failed", path=str(path), error=exc.strerror or str(exc))
    else:
        _failed.discard(path)


def heartbeat_age_s(path: Path, now: float) -> float | None:
    """Seconds since the worker last touched `path`; None when there is no such file."""
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return None


def main(argv: Sequence[str]) -> int:
    """`worker-alive [--file PATH] [--max-age SECONDS]`: exit 0 when the last heartbeat is at most
    max-age old, 1 when it is older or missing, 2 for a usage error; one line on stdout or stderr."""
    parser = argparse.ArgumentParser(
        prog="warmup-autoscaler worker-alive",
        description="Exit 0 if this container's worker heartbeat is recent (a liveness probe).",
    )
    parser.add_argument(
        "--file",
        type=Path,
        default=os.environ.get(FILE_VAR) or None,
        help=f"the heartbeat file [default: ${FILE_VAR}]",
    )
    parser.add_argument(
        "--max-age",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"the oldest heartbeat that counts [default: ${TTL_VAR} in seconds, else 30]",
    )
    args = parser.parse_args(list(argv))
    if args.file is None:
        parser.error(f"no heartbeat file: set {FILE_VAR} (for the worker too) or pass --file")
    max_age = args.max_age if args.max_age is not None else _ttl_s(parser)
    age = heartbeat_age_s(args.file, time.time())
    if age is None:
        print(f"not alive: no heartbeat yet ({args.file} does not exist)", file=sys.stderr)
        return 1
    if age > max_age:
        print(f"not alive: last heartbeat {age:.0f} s ago (over {max_age:g} s)", file=sys.stderr)
        return 1
    print(f"alive: last heartbeat {age:.1f} s ago")
    return 0


def _ttl_s(parser: argparse.ArgumentParser) -> float:
    raw = os.environ.get(TTL_VAR) or str(DEFAULT_TTL_MS)
    if not raw.isdigit() or int(raw) == 0:
        parser.error(f"{TTL_VAR}={raw}: must be a whole number of milliseconds greater than 0")
    return int(raw) / 1000
