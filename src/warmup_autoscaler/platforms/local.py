"""The embedded default platform: the daemon itself supervises N worker processes on this host.

Every spawn happens on the one supervision thread, because Linux's parent-death signal fires when
the *thread* that forked a worker ends; spawning from a short-lived caller thread would kill the
worker with it. `scale_to` and `close` therefore hand their work to that thread and wait for it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from warmup_autoscaler.config import WORKER_INDEX_VAR, ApiSettings
from warmup_autoscaler.config.base import Problem
from warmup_autoscaler.config.groups import split_command
from warmup_autoscaler.errors import PlatformError
from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.platforms.base import BasePlatform, PlatformContext, PlatformSettings

__all__ = ["STABLE_RUN_S", "LocalPlatform", "LocalSettings", "default_worker_command"]

log = get_logger(__name__)
ADMIN_TOKEN_VAR = ApiSettings.env_name("admin_token")  # emptied in the workers' environment

STABLE_RUN_S = 30.0  # a worker that ran this long before exiting restarts after the initial backoff
STOP_POLL_S = 0.02  # how often a stop checks whether the signalled workers are gone
_PR_SET_PDEATHSIG = 1


class LocalSettings(PlatformSettings):
    """AUTO_SCALER_LOCAL_*: the command that starts one worker, its logs, stop and restart."""

    model_config = SettingsConfigDict(env_prefix="AUTO_SCALER_LOCAL_")

    worker_command: str | None = None  # default: `warmup-autoscaler worker` (this Python)
    log_dir: Path = Path("./logs")
    stop_grace_ms: int = Field(30_000, ge=0)
    restart_backoff_ms: int = Field(1000, gt=0)

    def problems(self) -> list[Problem]:
        command = self.worker_command
        problem = split_command(command) if command and command.strip() else None
        return [Problem("worker_command", problem)] if problem else []


def default_worker_command() -> list[str]:
    """`warmup-autoscaler worker` with this interpreter: the default local worker."""
    return [sys.executable, "-m", "warmup_autoscaler", "worker"]


if sys.platform == "linux":
    _LIBC = ctypes.CDLL(None, use_errno=True)

    def _die_with_daemon() -> None:
        """In the child before exec: have Linux send SIGTERM when the spawning thread dies."""
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    _PREEXEC: Callable[[], None] | None = _die_with_daemon
else:
    _PREEXEC = None


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


class LocalPlatform(BasePlatform[LocalSettings]):
    """Runs `command` per slot 0..n-1; restarts crashed workers with backoff; stops newest first."""

    name = "local"
    settings_class = LocalSettings
    supervises_workers = True

    @classmethod
    def from_settings(cls, settings: LocalSettings, context: PlatformContext) -> Self:
        command = settings.worker_command
        return cls(
            command=shlex.split(command)
            if command and command.strip()
            else default_worker_command(),
            log_dir=settings.log_dir,
            stop_grace_s=settings.stop_grace_ms / 1000,
            restart_backoff_s=settings.restart_backoff_ms / 1000,
        )

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
            raise PlatformError(
                f"the worker command is empty; set {LocalSettings.env_name('worker_command')}"
            )
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

    def _scale_to(self, workers: int) -> None:
        """Start or stop workers until `workers` slots exist; returns once spawned or gone."""
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
                    log.exception("local_platform_failed")
                    job.error = PlatformError(f"the local platform failed: {exc!r}")
                finally:
                    job.done.set()
            try:
                self._reap_and_restart()
            except Exception:
                log.exception("local_supervision_failed")

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
                f"check {LocalSettings.env_name('log_dir')}"
            ) from exc
        # Workers never need the daemon's admin token: set empty, it also hides one in `.env`.
        env = {**os.environ, **self._env, ADMIN_TOKEN_VAR: "", WORKER_INDEX_VAR: str(slot.index)}
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
                f"cannot start worker command '{self._command[0]}': {reason}; check {LocalSettings.env_name('worker_command')}"
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
                        "local_worker_exited",
                        slot=slot.index,
                        pid=slot.proc.pid,
                        code=code,
                        restartInS=slot.backoff_s,
                    )
                    self._schedule_restart(slot, now)
                elif slot.proc is None and slot.restart_at is not None and now >= slot.restart_at:
                    try:
                        pid = self._spawn(slot)
                    except PlatformError as exc:
                        log.error(
                            "local_worker_spawn_failed",
                            slot=slot.index,
                            error=exc.message,
                            retryInS=slot.backoff_s,
                        )
                        self._schedule_restart(slot, now)
                        continue
                    slot.restarts += 1
                    log.info(
                        "local_worker_restarted", slot=slot.index, pid=pid, restarts=slot.restarts
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
                log.warning("local_worker_killed", pid=p.pid, graceS=self._stop_grace_s)
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
