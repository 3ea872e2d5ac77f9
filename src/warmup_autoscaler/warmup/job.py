"""The `warmup` job (AUTO_SCALER_WORKER_JOB=warmup): per owned mailbox and cycle, send today's
due messages, then engage on its own inbox, then check the safety stops; the cycle's row in
`warmup_cycles` says what it did. See docs/warmup.md.

The mail work runs in a thread pool of AUTO_SCALER_WORKER_CONCURRENCY threads (smtplib and
imaplib block); a cancelled cycle (drain deadline) sets a flag the thread checks between
messages, and any write after a lost lease is refused by the fence anyway.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from warmup_autoscaler.config import WarmupSettings
from warmup_autoscaler.errors import ConfigError, StoreError
from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.warmup.context import CycleRun, FencedOut, JobLimits
from warmup_autoscaler.warmup.engage import engage
from warmup_autoscaler.warmup.errors import MailError
from warmup_autoscaler.warmup.fenced import Fence, WarmupStore
from warmup_autoscaler.warmup.partners import Partner
from warmup_autoscaler.warmup.safety import SafetyLimits, after_failure, bounce_stop
from warmup_autoscaler.warmup.secrets import SecretBox
from warmup_autoscaler.warmup.send import send_due
from warmup_autoscaler.warmup.store import AccountStore
from warmup_autoscaler.worker.jobs import Cycle, JobContext, job_factory

__all__ = ["WarmupJob", "limits_from_settings", "secret_box", "warmup_job"]

log = get_logger("warmup_autoscaler.warmup")
POOL_CACHE_S = 60.0  # the partner list is read at most this often


def utc_now() -> datetime:
    return datetime.now(UTC)


def limits_from_settings(settings: WarmupSettings) -> JobLimits:
    return JobLimits(
        safety=SafetyLimits(
            auth_failures=settings.auth_failure_limit,
            connect_failures=settings.connect_failure_limit,
            bounce_rate=settings.bounce_rate_limit,
            bounce_min_sends=settings.bounce_min_sends,
            backoff_ms=settings.retry_backoff_ms,
        ),
        timeout_s=settings.mail_timeout_ms / 1000,
        resend_grace_ms=settings.resend_grace_ms,
        keep_hours=settings.keep_hours,
        archive_folder=settings.archive_folder,
    )


def secret_box(settings: WarmupSettings) -> SecretBox:
    """The key from AUTO_SCALER_SECRET_KEY, or a one-line `ConfigError` when it is missing."""
    key = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if not key.strip():
        raise ConfigError(
            ["AUTO_SCALER_SECRET_KEY=(unset): is required to encrypt and decrypt the mailbox "
             "passwords; make one with `warmup-autoscaler mailbox keygen` and keep it safe"]
        )  # fmt: skip
    return SecretBox(key)


class WarmupJob:
    """The cycle job; one instance per worker process."""

    def __init__(
        self,
        store: WarmupStore,
        box: SecretBox,
        limits: JobLimits,
        *,
        threads: int = 10,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store, self.box, self.limits, self.clock = store, box, limits, clock
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="warmup-mail")
        self._partners: list[Partner] = []
        self._partners_at = -POOL_CACHE_S
        self._lock = threading.Lock()

    def partners(self) -> list[Partner]:
        with self._lock:
            if time.monotonic() - self._partners_at >= POOL_CACHE_S:
                self._partners = self.store.pool()
                self._partners_at = time.monotonic()
            return self._partners

    async def __call__(self, cycle: Cycle) -> None:
        stop = threading.Event()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, self.run_cycle, cycle, stop)
        try:
            outcome, detail = await asyncio.shield(future)
        except asyncio.CancelledError:
            stop.set()
            raise
        await cycle.record(outcome=outcome, detail=detail)

    def run_cycle(self, cycle: Cycle, stop: threading.Event) -> tuple[str, str | None]:
        """One cycle, blocking: (outcome, detail) for the cycle's row."""
        fence = Fence(mailbox_id=cycle.mailbox_id, worker_id=cycle.worker_id, epoch=cycle.epoch)
        account = self.store.account(cycle.mailbox_id)
        if account is None:
            return "no-account", None
        if not account.enabled:
            return "disabled", None
        if account.paused_reason is not None:
            return "paused", account.paused_reason
        if account.retry_at > self.store.now_ms():
            return "backoff", None
        run = CycleRun(store=self.store, fence=fence, account=account, box=self.box,
                       clock=self.clock, limits=self.limits, stop=stop)  # fmt: skip
        try:
            send_due(run, self.partners)
            engage(run)
        except FencedOut as exc:
            log.warning("warmup_fenced", mailbox=cycle.mailbox_id, epoch=cycle.epoch, why=str(exc))
            return "fenced", json.dumps(run.counts.as_dict())
        except MailError as exc:
            return self._failed(run, exc)
        self._after_success(run)
        return "ok", json.dumps(run.counts.as_dict())

    def _failed(self, run: CycleRun, exc: MailError) -> tuple[str, str]:
        a = run.account
        update = after_failure(
            exc.kind, exc.message, auth_failures=a.auth_failures,
            connect_failures=a.connect_failures, limits=self.limits.safety,
        )  # fmt: skip
        values: dict[str, object] = dict(vars(update))
        self._bounce_check(run, update.pause_reason, values)
        log.warning("warmup_failed", mailbox=a.mailbox_id, kind=exc.kind.value, error=exc.message,
                    retryInMs=update.retry_in_ms)  # fmt: skip
        return f"{exc.kind.value}-failed", exc.message

    def _after_success(self, run: CycleRun) -> None:
        a = run.account
        clean = a.auth_failures == 0 and a.connect_failures == 0 and a.retry_at == 0
        values: dict[str, object] = {"auth_failures": 0, "connect_failures": 0, "retry_in_ms": 0}
        if run.counts.bounced or not clean:
            self._bounce_check(run, None, values)

    def _bounce_check(self, run: CycleRun, reason: str | None, values: dict[str, object]) -> None:
        """Write the safety state, pausing on `reason` or on a bounce rate over the limit."""
        if reason is None:
            answered, bounced = self.store.bounce_stats(run.account.mailbox_id)
            reason = bounce_stop(sent=answered, bounced=bounced, limits=self.limits.safety)
        if values.get("retry_in_ms", 0) == -(10**12):
            values["retry_in_ms"] = -self.store.now_ms()  # retry_at = 0: no backoff
        written = self.store.set_safety(run.fence, **{**values, "pause_reason": reason})
        if reason is not None and written:
            log.error("mailbox_paused", mailbox=run.account.mailbox_id,
                      email=run.account.email, reason=reason)  # fmt: skip


@job_factory
def warmup_job(context: JobContext, *, clock: Callable[[], datetime] = utc_now) -> WarmupJob:
    """The job for AUTO_SCALER_WORKER_JOB=warmup: refuses a missing key, or one that does not
    decrypt the stored passwords, before the worker starts (a one-line config error)."""
    settings = context.settings
    box = secret_box(settings.warmup)
    try:
        AccountStore(context.db).check_key(box)
    except StoreError as exc:
        log.warning("warmup_key_not_checked", error=exc.message)
    return WarmupJob(
        WarmupStore(context.db),
        box,
        limits_from_settings(settings.warmup),
        threads=settings.worker.concurrency,
        clock=clock,
    )
