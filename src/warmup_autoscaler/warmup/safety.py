"""Safety stops, pure: what a failure does to a mailbox's counters, its next attempt and its
pause. Logins refused, connections failing and bounces each have a limit; below it the mailbox
waits an exponential backoff (never a tight retry loop), at it the mailbox is paused with the
reason, until an operator resumes it (`warmup-autoscaler mailbox resume ID`)."""

from __future__ import annotations

from dataclasses import dataclass

from warmup_autoscaler.warmup.errors import MailFailure

__all__ = ["SafetyLimits", "SafetyUpdate", "after_failure", "bounce_stop"]

MAX_BACKOFF_MS = 3_600_000


@dataclass(frozen=True, kw_only=True)
class SafetyLimits:
    auth_failures: int = 3
    connect_failures: int = 5
    bounce_rate: float = 0.1
    bounce_min_sends: int = 10
    backoff_ms: int = 60_000


@dataclass(frozen=True, kw_only=True)
class SafetyUpdate:
    auth_failures: int
    connect_failures: int
    retry_in_ms: int
    pause_reason: str | None


def after_failure(
    kind: MailFailure,
    error: str,
    *,
    auth_failures: int,
    connect_failures: int,
    limits: SafetyLimits,
) -> SafetyUpdate:
    """The counters after one failed cycle, when to try again, and the pause if a limit is hit.

    A refused login counts towards the auth limit, anything else towards the connection limit;
    the backoff doubles with each failure in a row, from `backoff_ms` up to an hour."""
    if kind is MailFailure.AUTH:
        auth_failures += 1
    else:
        connect_failures += 1
    streak = max(auth_failures, connect_failures)
    retry = min(limits.backoff_ms * 2 ** (streak - 1), MAX_BACKOFF_MS)
    reason = None
    if kind is MailFailure.AUTH and auth_failures >= limits.auth_failures:
        reason = (
            f"safety stop: login refused {auth_failures} times in a row "
            f"(limit AUTO_SCALER_WARMUP_AUTH_FAILURE_LIMIT={limits.auth_failures}); last: {error}"
        )
    elif kind is not MailFailure.AUTH and connect_failures >= limits.connect_failures:
        reason = (
            f"safety stop: mail server failed {connect_failures} times in a row "
            f"(limit AUTO_SCALER_WARMUP_CONNECT_FAILURE_LIMIT={limits.connect_failures}); "
            f"last: {error}"
        )
    return SafetyUpdate(
        auth_failures=auth_failures,
        connect_failures=connect_failures,
        retry_in_ms=retry,
        pause_reason=reason,
    )


def bounce_stop(*, sent: int, bounced: int, limits: SafetyLimits) -> str | None:
    """The pause reason when bounces over the last 24 h pass the limit, else None.

    `sent` counts every message that got an answer (delivered or bounced); below
    `bounce_min_sends` of them the rate says too little to stop anything."""
    if sent < limits.bounce_min_sends or sent == 0:
        return None
    rate = bounced / sent
    if rate <= limits.bounce_rate:
        return None
    return (
        f"safety stop: bounce rate {rate:.0%} ({bounced} of {sent} messages in 24 h) above "
        f"the limit AUTO_SCALER_WARMUP_BOUNCE_RATE_LIMIT={limits.bounce_rate:g}"
    )
