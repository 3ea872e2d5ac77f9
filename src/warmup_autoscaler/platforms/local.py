"""The embedded default platform: the daemon itself supervises N worker processes on this host.

Every spawn happens on the one supervision thread, because Linux's parent-death signal fires when
the *thread* that forked a worker ends; spawning from a short-lived caller thread would kill the
worker with it. `scale_to` and `close` therefore hand their work to that thread and wait for it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from warmup_autoscaler.errors import PlatformError

__all__ = ["STABLE_RUN_S", "LocalPlatform", "WorkerInfo"]

log = logging.getLogger(__name__)

STABLE_RUN_S = 30.0  # a worker that ran this long before exiting restarts after the initial backoff
STOP_POLL_S = 0.02  # how often a stop checks whether the signalled workers are gone
COMMAND_VAR = "AUTO_SCALER_LOCAL_WORKER_COMMAND"
LOG_DIR_VAR = "AUTO_SCALER_LOCAL_LOG_DIR"
_PR_SET_PDEATHSIG = 1

if sys.platform == "linux":
    _LIBC = ctypes.CDLL(None, use_errno=True)

    def _die_with_daemon() -> None:
        """In the child before exec: have Linux send SIGTERM when the spawning thread dies."""
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    _PREEXEC: Callable[[], None] | None = _die_with_daemon
else:
    _PREEXEC = None


@dataclass(frozen=True, kw_only=True)
class WorkerInfo:
    """One worker slot as the status API shows it; `pid` is None while it waits to restart."""

    slot: int
    pid: int | None
    restarts: int
    log_path: Path
    running: bool


@dataclass(kw_only=True)
class _Slot:
    index: int
    log_path: Path
    backoff_s: float
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0  # time.monotonic() of the last spawn
    restart_at: float | None = None  # time.monotonic() after which a crashed worker is restarted
    restarts: int = 0


@dataclass
class _Job:
    run: Callable[[], None]
    done: threading.Event = field(default_factory=threading.Event)
    error: PlatformError | None = None


class LocalPlatform:
    """Runs `command` per slot 0..n-1; restarts crashed workers with backoff; stops newest first."""

    name = "local"

    def __init__(
        self,
        *,
        command: list[str],
        log_dir: Path,
        stop_grace_s: float = 30.0,
        restart_backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        env: Mapping[str, str] | None = None,
        poll_interval_s: float = 0.2,
    ) -> None:
        if not command:
            raise PlatformError(f"the worker command is empty; set {COMMAND_VAR}")
        self._command = list(command)
        self._log_dir = log_dir
        self._stop_grace_s = stop_grace_s
        self._restart_backoff_s = restart_backoff_s
        self._max_backoff_s = max_backoff_s
        self._env = dict(env or {})
        self._poll_interval_s = poll_interval_s
        self._slots: dict[int, _Slot] = {}
        self._lock = threading.Lock()  # guards _slots, _closed and _thread
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._exiting = False  # set on the supervision thread by the close job

    def start(self) -> None:
        """Start the supervision thread (idempotent)."""
        with self._lock:
            if self._closed:
                raise PlatformError("the local platform is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._supervise, name="local-platform", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        """Stop every worker gracefully, all together, then the supervision thread (idempotent)."""
        job = _Job(self._close_on_thread)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._jobs.put(job)
        if thread is not None:
            job.done.wait()
            thread.join()
        if job.error is not None:
            raise job.error

    def current_workers(self) -> int:
        with self._lock:
            return len(self._slots)

    def workers(self) -> list[WorkerInfo]:
        """A snapshot of every slot, lowest first."""
        with self._lock:
            return [
                WorkerInfo(
                    slot=s.index,
                    pid=s.proc.pid if s.proc else None,
                    restarts=s.restarts,
                    log_path=s.log_path,
                    running=s.proc is not None and s.proc.poll() is None,
                )
                for s in sorted(self._slots.values(), key=lambda s: s.index)
            ]

    def scale_to(self, workers: int) -> None:
        """Start or stop workers until `workers` slots exist; returns once spawned or gone."""
        if workers < 0:
            raise PlatformError(f"cannot scale to {workers} workers; the count must be 0 or more")
        self.start()
        job = _Job(lambda: self._scale_on_thread(workers))
        with self._lock:
            if self._closed:
                raise PlatformError("the local platform is closed")
            self._jobs.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error

    # Everything below runs on the supervision thread.

    def _supervise(self) -> None:
        while not self._exiting:
            try:
                job = self._jobs.get(timeout=self._poll_interval_s)
            except queue.Empty:
                pass
            else:
                try:
                    job.run()
                except PlatformError as exc:
                    job.error = exc
                except Exception as exc:
                    log.exception("local platform: unexpected failure")
                    job.error = PlatformError(f"the local platform failed: {exc!r}")
                finally:
                    job.done.set()
            try:
                self._reap_and_restart()
            except Exception:
                log.exception("local platform: supervision pass failed")

    def _scale_on_thread(self, workers: int) -> None:
        with self._lock:
            for index in range(len(self._slots), workers):
                slot = _Slot(
                    index=index,
                    log_path=self._log_dir / f"worker-{index}.log",
                    backoff_s=self._restart_backoff_s,
                )
                self._spawn(slot)
                self._slots[index] = slot
            doomed = [self._slots.pop(i) for i in sorted(self._slots, reverse=True) if i >= workers]
        self._stop(doomed)

    def _close_on_thread(self) -> None:
        with self._lock:
            doomed = list(self._slots.values())
            self._slots.clear()
        self._exiting = True
        self._stop(doomed)

    def _spawn(self, slot: _Slot) -> int:
        try:
            self._log_dir.mkdir(parents=True, exist_ok=True)
            log_file = slot.log_path.open("ab")
        except OSError as exc:
            raise PlatformError(
                f"cannot write worker log {slot.log_path}: {exc.strerror or exc}; "
                f"check {LOG_DIR_VAR}"
            ) from exc
        env = {**os.environ, **self._env, "AUTO_SCALER_WORKER_INDEX": str(slot.index)}
        try:
            with log_file:
                slot.proc = subprocess.Popen(
                    self._command,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    preexec_fn=_PREEXEC,
                )
        except (OSError, subprocess.SubprocessError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise PlatformError(
                f"cannot start worker command '{self._command[0]}': {reason}; check {COMMAND_VAR}"
            ) from exc
        slot.started_at = time.monotonic()
        slot.restart_at = None
        return slot.proc.pid

    def _reap_and_restart(self) -> None:
        with self._lock:
            for slot in self._slots.values():
                now = time.monotonic()
                if slot.proc is not None and (code := slot.proc.poll()) is not None:
                    if now - slot.started_at >= STABLE_RUN_S:
                        slot.backoff_s = self._restart_backoff_s
                    log.warning(
                        "worker %d (pid %d) exited with code %d; restarting in %.1f s",
                        slot.index,
                        slot.proc.pid,
                        code,
                        slot.backoff_s,
                    )
                    self._schedule_restart(slot, now)
                elif slot.proc is None and slot.restart_at is not None and now >= slot.restart_at:
                    try:
                        pid = self._spawn(slot)
                    except PlatformError as exc:
                        log.error(
                            "worker %d: %s; retrying in %.1f s", slot.index, exc, slot.backoff_s
                        )
                        self._schedule_restart(slot, now)
                        continue
                    slot.restarts += 1
                    log.info(
                        "worker %d restarted as pid %d (restart %d)", slot.index, pid, slot.restarts
                    )

    def _schedule_restart(self, slot: _Slot, now: float) -> None:
        slot.proc = None
        slot.restart_at = now + slot.backoff_s
        slot.backoff_s = min(slot.backoff_s * 2, self._max_backoff_s)

    def _stop(self, slots: list[_Slot]) -> None:
        """SIGTERM all workers' process groups at once, share one grace period, then SIGKILL."""
        procs = [s.proc for s in slots if s.proc is not None]
        try:
            self._signal_all(procs, signal.SIGTERM)
            deadline = time.monotonic() + self._stop_grace_s
            while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
                time.sleep(STOP_POLL_S)
            late = [p for p in procs if p.poll() is None]
            for p in late:
                log.warning(
                    "worker pid %d outlived its %.1f s grace; sending SIGKILL",
                    p.pid,
                    self._stop_grace_s,
                )
            self._signal_all(late, signal.SIGKILL)
            for p in late:
                p.wait()
        except OSError as exc:
            raise PlatformError(f"cannot stop local workers: {exc}") from exc

    @staticmethod
    def _signal_all(procs: list[subprocess.Popen[bytes]], sig: signal.Signals) -> None:
        for p in procs:
            if p.poll() is None:  # not reaped, so the pid (and its group id) is still ours
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, sig)
