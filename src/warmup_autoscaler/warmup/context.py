"""What one warmup cycle works with, shared by its send and engage steps: the mailbox's account
and passwords, the lease fence, the clock, the limits, and a stop flag set when the cycle is
cancelled (the steps run in a thread and check it between messages)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from warmup_autoscaler.warmup.accounts import Account
from warmup_autoscaler.warmup.fenced import Fence, WarmupStore
from warmup_autoscaler.warmup.safety import SafetyLimits
from warmup_autoscaler.warmup.secrets import SecretBox
from warmup_autoscaler.warmup.smtp import ServerLogin

__all__ = ["CycleCounts", "CycleRun", "FencedOut", "JobLimits", "server_login"]


def server_login(account: Account, kind: str, box: SecretBox, timeout_s: float) -> ServerLogin:
    """The SMTP or IMAP login of `account`, its password decrypted (in memory only)."""
    token = account.smtp_password_token if kind == "smtp" else account.imap_password_token
    return ServerLogin(
        host=getattr(account, f"{kind}_host"),
        port=getattr(account, f"{kind}_port"),
        security=getattr(account, f"{kind}_security"),
        username=getattr(account, f"{kind}_username"),
        password=box.decrypt(token),
        timeout_s=timeout_s,
    )


class FencedOut(Exception):
    """The lease was lost mid-cycle: stop at once, write nothing more."""


@dataclass(frozen=True, kw_only=True)
class JobLimits:
    safety: SafetyLimits
    timeout_s: float = 30.0
    resend_grace_ms: int = 600_000  # an unfinished send is left this long before it is resent
    keep_hours: int = 24
    archive_folder: str = "Warmup"


@dataclass(kw_only=True)
class CycleCounts:
    sent: int = 0
    bounced: int = 0
    deferred: int = 0
    recovered: int = 0
    received: int = 0
    rescued: int = 0
    flagged: int = 0
    replied: int = 0
    archived: int = 0

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if v}


@dataclass(kw_only=True)
class CycleRun:
    store: WarmupStore
    fence: Fence
    account: Account
    box: SecretBox = field(repr=False)
    clock: Callable[[], datetime]
    limits: JobLimits
    stop: threading.Event = field(default_factory=threading.Event)
    counts: CycleCounts = field(default_factory=CycleCounts)

    def login(self, kind: str, account: Account | None = None) -> ServerLogin:
        """The SMTP or IMAP login of this mailbox (or of `account`), password decrypted."""
        return server_login(account or self.account, kind, self.box, self.limits.timeout_s)

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise FencedOut("the cycle was cancelled")
