"""Mailbox accounts: parse and check what a user gives (CLI options or a CSV row), and the
`warmup_accounts` rows they become. Passwords are encrypted before they reach a row.

Every problem of a row is reported at once, each naming the field and what is allowed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from warmup_autoscaler.warmup.errors import AccountError

__all__ = [
    "SECURITY",
    "Account",
    "AccountInput",
    "is_loopback",
    "parse_account",
]

SECURITY = ("ssl", "starttls", "none")
DEFAULT_PORTS = {
    "smtp": {"ssl": 465, "starttls": 587, "none": 25},
    "imap": {"ssl": 993, "starttls": 143, "none": 143},
}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TRUE, FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


@dataclass(frozen=True, kw_only=True)
class AccountInput:
    """A checked account, its passwords still plaintext (in memory only, never printed)."""

    mailbox_id: int
    email: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_username: str
    smtp_password: str = field(repr=False)
    imap_host: str
    imap_port: int
    imap_security: str
    imap_username: str
    imap_password: str = field(repr=False)
    start_volume: int = 2
    target_volume: int = 40
    ramp_per_day: int = 2
    reply_rate: float = 0.3
    window_start_hour: int = 8
    window_end_hour: int = 18
    timezone: str = "UTC"
    enabled: bool = True
    started_on: str = ""


@dataclass(frozen=True, kw_only=True)
class Account:
    """A `warmup_accounts` row as the job and the CLI see it; passwords as stored tokens."""

    mailbox_id: int
    email: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_username: str
    smtp_password_token: str = field(repr=False)
    imap_host: str
    imap_port: int
    imap_security: str
    imap_username: str
    imap_password_token: str = field(repr=False)
    start_volume: int
    target_volume: int
    ramp_per_day: int
    reply_rate: float
    window_start_hour: int
    window_end_hour: int
    timezone: str
    enabled: bool
    started_on: str
    paused_reason: str | None = None
    paused_at: int | None = None
    paused_by: str | None = None  # safety | user
    auth_failures: int = 0
    connect_failures: int = 0
    retry_at: int = 0

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2].lower()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Account:
        values = dict(row)
        values["smtp_password_token"] = values.pop("smtp_password")
        values["imap_password_token"] = values.pop("imap_password")
        for name in ("created_at", "updated_at"):
            values.pop(name, None)
        values["enabled"] = bool(values["enabled"])
        return cls(**values)

    def public_dict(self) -> dict[str, Any]:
        """Everything but the passwords, camelCase, for the API and the CLI."""
        return {
            "mailboxId": self.mailbox_id,
            "email": self.email,
            "smtp": {"host": self.smtp_host, "port": self.smtp_port,
                     "security": self.smtp_security, "username": self.smtp_username},
            "imap": {"host": self.imap_host, "port": self.imap_port,
                     "security": self.imap_security, "username": self.imap_username},
            "startVolume": self.start_volume,
            "targetVolume": self.target_volume,
            "rampPerDay": self.ramp_per_day,
            "replyRate": self.reply_rate,
            "window": {"startHour": self.window_start_hour, "endHour": self.window_end_hour,
                       "timezone": self.timezone},
            "enabled": self.enabled,
            "startedOn": self.started_on,
            "paused": self.paused_reason is not None,
            "pausedReason": self.paused_reason,
            "pausedBy": self.paused_by,
        }  # fmt: skip


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine (the only place plaintext `none` security is allowed)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Row:
    """Reads fields of one raw row, collecting every problem instead of stopping at the first."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = {k.strip().lower(): v for k, v in raw.items() if k is not None}
        self.problems: list[str] = []

    def text(self, name: str, default: str | None = None) -> str:
        value = self.raw.get(name)
        value = "" if value is None else str(value).strip()
        if value:
            return value
        if default is None:
            self.problems.append(f"{name} is required")
        return default or ""

    def number(self, name: str, default: int, low: int, high: int, what: str) -> int:
        value = self.text(name, str(default))
        try:
            n = int(value)
        except ValueError:
            n = low - 1
        if not low <= n <= high:
            self.problems.append(f"{name}={value}: must be {what}")
            return default
        return n

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name, default).lower()
        if value not in allowed:
            self.problems.append(f"{name}={value}: must be one of {', '.join(allowed)}")
            return default
        return value


def parse_account(raw: Mapping[str, Any], *, today: date) -> AccountInput:
    """Check one account given as text fields (CSV columns or CLI options); raises
    `AccountError` listing every problem. `password` sets both servers' passwords unless
    `smtp_password` / `imap_password` are given."""
    r = _Row(raw)
    mailbox_id = r.number("mailbox_id", 0, 1, 2**63 - 1, "the mailbox's id, a whole number >= 1")
    email = r.text("email")
    if email and not EMAIL.match(email):
        r.problems.append(f"email={email}: must be an address like name@example.com")
    servers: dict[str, Any] = {}
    for kind in ("smtp", "imap"):
        host = r.text(f"{kind}_host")
        security = r.choice(f"{kind}_security", "starttls" if kind == "smtp" else "ssl", SECURITY)
        port = r.number(
            f"{kind}_port", DEFAULT_PORTS[kind][security], 1, 65535, "a port from 1 to 65535"
        )
        if security == "none" and host and not is_loopback(host):
            r.problems.append(
                f"{kind}_security=none: only allowed for a loopback host (127.0.0.1, ::1, "
                f"localhost), not {host}; use ssl or starttls"
            )
        password = r.text(f"{kind}_password", "") or r.text("password", "")
        if not password:
            r.problems.append(f"{kind}_password (or password) is required")
        servers.update(
            {f"{kind}_host": host, f"{kind}_port": port, f"{kind}_security": security,
             f"{kind}_username": r.text(f"{kind}_username", email), f"{kind}_password": password}
        )  # fmt: skip
    start = r.number("start_volume", 2, 1, 10_000, "a whole number of messages per day, 1 to 10000")
    target = r.number(
        "target_volume", 40, 1, 10_000, "a whole number of messages per day, 1 to 10000"
    )
    if target < start:
        r.problems.append(f"target_volume={target}: must be at least start_volume ({start})")
    ramp = r.number(
        "ramp_per_day", 2, 0, 10_000, "a whole number of messages added per day, 0 or more"
    )
    reply_text = r.text("reply_rate", "0.3")
    try:
        reply_rate = float(reply_text)
    except ValueError:
        reply_rate = -1.0
    if not 0 <= reply_rate <= 1:
        r.problems.append(f"reply_rate={reply_text}: must be a number from 0 to 1 (e.g. 0.3)")
        reply_rate = 0.3
    w_start = r.number("window_start", 8, 0, 23, "an hour from 0 to 23")
    w_end = r.number("window_end", 18, 1, 24, "an hour from 1 to 24")
    if w_end <= w_start:
        r.problems.append(f"window_end={w_end}: must be after window_start ({w_start})")
    tz = r.text("timezone", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        r.problems.append(f"timezone={tz}: must be an IANA time zone (e.g. Europe/Paris, UTC)")
    enabled_text = r.text("enabled", "true").lower()
    if enabled_text not in TRUE + FALSE:
        r.problems.append(f"enabled={enabled_text}: must be true or false")
    started_on = r.text("started_on", today.isoformat())
    try:
        date.fromisoformat(started_on)
    except ValueError:
        r.problems.append(f"started_on={started_on}: must be a date YYYY-MM-DD")
    if r.problems:
        raise AccountError(r.problems)
    return AccountInput(
        mailbox_id=mailbox_id,
        email=email,
        start_volume=start,
        target_volume=target,
        ramp_per_day=ramp,
        reply_rate=reply_rate,
        window_start_hour=w_start,
        window_end_hour=w_end,
        timezone=tz,
        enabled=enabled_text in TRUE,
        started_on=started_on,
        **servers,
    )
