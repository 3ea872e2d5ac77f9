"""What a warmup cycle does: the job interface, the built-in `record` job and `module:callable`.

A job is an async callable taking a `Cycle`: the mailbox row (from the active-mailboxes query),
the lease epoch, the worker id, and `record(...)`, a fenced write that succeeds only while this
worker still holds the lease under the same epoch, checked in the same SQL statement. Jobs are
cancelled (asyncio cancellation) when a drain runs out of time, so a real SMTP/IMAP job should
leave things consistent at any `await`.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from warmup_autoscaler.config import WorkerSettings
from warmup_autoscaler.errors import ConfigError

if TYPE_CHECKING:
    from warmup_autoscaler.config import Settings
    from warmup_autoscaler.store.database import Database

__all__ = ["Cycle", "Job", "JobContext", "RecordWriter", "job_factory", "load_job", "record_job"]

JOB_VAR = WorkerSettings.env_name("job")


class Job(Protocol):
    """Warm one mailbox once; report through `cycle.record(...)`."""

    def __call__(self, cycle: Cycle, /) -> Awaitable[object]: ...


RecordWriter = Callable[["Cycle", str, "str | None"], Awaitable[bool]]


@dataclass(frozen=True, kw_only=True)
class JobContext:
    """What a job factory is given once at start: the worker's database and settings."""

    db: Database
    settings: Settings


def job_factory(fn: Callable[[JobContext], Job]) -> Callable[[JobContext], Job]:
    """Mark `fn` as a factory: `load_job` calls it once with the `JobContext` for the job."""
    fn.job_factory = True  # type: ignore[attr-defined]
    return fn


class Cycle:
    """One cycle of one mailbox, as handed to the job. `started_at_ms` is the database clock
    when the cycle began under a valid lease; it is written as the row's `started_at`."""

    def __init__(
        self,
        *,
        mailbox: Mapping[str, Any],
        mailbox_id: int,
        epoch: int,
        worker_id: str,
        started_at_ms: int,
        writer: RecordWriter,
    ) -> None:
        self.mailbox = mailbox
        self.mailbox_id = mailbox_id
        self.epoch = epoch
        self.worker_id = worker_id
        self.started_at_ms = started_at_ms
        self._writer = writer
        self._recording = False
        self._result: bool | None = None

    @property
    def recorded(self) -> bool:
        """Whether the cycle's row was written."""
        return self._result is True

    @property
    def fenced(self) -> bool:
        """Whether the write was refused because the lease was lost: the cycle counts as lost."""
        return self._result is False

    async def record(self, *, outcome: str = "ok", detail: str | None = None) -> bool:
        """Write this cycle's one row to `warmup_cycles` (finished_at = database clock now) if
        the lease is still held under this epoch; False, and nothing written, if it is not."""
        if self._recording:
            raise RuntimeError("a cycle is recorded at most once")
        self._recording = True
        self._result = await self._writer(self, outcome[:40], detail)
        return self._result

    def __repr__(self) -> str:
        return f"Cycle(mailbox_id={self.mailbox_id}, epoch={self.epoch})"


async def record_job(cycle: Cycle) -> None:
    """The built-in job `record`: writes one row per cycle to `warmup_cycles` and sends nothing
    (no SMTP, no IMAP). It shows scheduling, ownership and fencing working, not warmup."""
    await cycle.record(outcome="ok")


def load_job(spec: str, context: JobContext | None = None) -> Job:
    """`record`, `warmup`, or `package.module:callable` (a dotted attribute path after the
    colon); a callable marked with `@job_factory` is called with `context` to make the job."""
    if spec == "record":
        return record_job
    if spec == "warmup":
        spec = "warmup_autoscaler.warmup.job:warmup_job"
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise ConfigError([f"{JOB_VAR}={spec}: must be record or module:callable"])
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure of the user's module is a config problem
        raise ConfigError(
            [f"{JOB_VAR}={spec}: cannot import {module_name!r} ({type(exc).__name__}: {exc})"]
        ) from exc
    for part in attr_path.split("."):
        if not hasattr(target, part):
            raise ConfigError([f"{JOB_VAR}={spec}: {module_name!r} has no attribute {attr_path!r}"])
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError([f"{JOB_VAR}={spec}: {attr_path!r} is not callable"])
    if getattr(target, "job_factory", False):
        if context is None:
            raise ConfigError([f"{JOB_VAR}={spec}: a job factory needs the worker's context"])
        target = target(context)
    job: Job = target
    return job
