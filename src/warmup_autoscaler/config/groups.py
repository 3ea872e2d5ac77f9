"""The settings of each part of the system, one group each; every bound is written once, here.

Every variable of the seed keeps its name and default. A field reads `<env_prefix><FIELD>` unless
it has an alias (its variable's full name).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from warmup_autoscaler.config.base import Problem, SettingsGroup
from warmup_autoscaler.config.table_name import TABLE_NAME_ALLOWED, TableName, parse_table_name
from warmup_autoscaler.policy import PolicyConfig

__all__ = [
    "DEFAULT_ACTIVE_QUERY",
    "DEFAULT_QUERY",
    "AlertSettings",
    "ApiSettings",
    "DaemonSettings",
    "DatabaseSettings",
    "LogSettings",
    "PolicySettings",
    "ReactSettings",
    "WorkerSettings",
    "normalize_database_url",
]

DEFAULT_QUERY = "SELECT COUNT(*) FROM mailboxes WHERE status = 'active'"
DEFAULT_ACTIVE_QUERY = "SELECT * FROM mailboxes WHERE status = 'active'"


def _alias(name: str) -> Any:
    """The field reads exactly this variable (no prefix)."""
    return AliasChoices(name)


class DaemonSettings(SettingsGroup):
    """What the daemon does and how often (the seed's switch, interval and platform)."""

    enabled: bool = True
    check_interval_ms: int = Field(300_000, gt=0)
    dry_run: bool = False
    platform: str = "local"
    # How long an elected leader's lease lasts unrenewed: a standby takes over within two of it.
    leader_lease_ms: int = Field(15_000, ge=1000, le=600_000)


class PolicySettings(SettingsGroup):
    """The decision engine's thresholds, cooldowns and bounds."""

    mailboxes_per_worker: int = Field(1000, ge=1)
    min_workers: int = Field(1, ge=0)
    max_workers: int = Field(100, ge=1)
    scale_up_threshold: float = Field(0.8, gt=0, le=1)
    scale_down_threshold: float = Field(0.3, gt=0, le=1)
    scale_up_cooldown_ms: int = Field(300_000, ge=0)
    scale_down_cooldown_ms: int = Field(600_000, ge=0)
    scaling_mode: Literal["step", "target", "tracking"] = "step"
    max_step: int = Field(10, ge=1)
    # tracking mode (AUTO_SCALER_SCALING_MODE=tracking): a set point, like Kubernetes' HPA
    target_utilization: float = Field(0.9, gt=0, le=1)
    tracking_tolerance: float = Field(0.05, ge=0, lt=1)
    scale_down_stabilization_ms: int = Field(2_700_000, ge=0)
    # predictive scaling: scale up ahead of a forecast crossing (docs/simulation.md)
    predictive: bool = False
    predictive_window_ms: int = Field(1_800_000, ge=60_000)  # samples the trend is fitted over
    scale_up_lead_time_ms: int | None = Field(None, ge=0)  # unset: measured from past scale-ups

    ALLOWED: ClassVar[dict[str, str]] = {
        "tracking_tolerance": "a number from 0 up to (not including) 1 (e.g. 0.05)",
        "scale_up_lead_time_ms": "a whole number of milliseconds, 0 or more (e.g. 60000), or unset",
    }

    def to_policy(self) -> PolicyConfig:
        """The pure engine's configuration."""
        return PolicyConfig(
            mailboxes_per_worker=self.mailboxes_per_worker,
            min_workers=self.min_workers,
            max_workers=self.max_workers,
            scale_up_threshold=self.scale_up_threshold,
            scale_down_threshold=self.scale_down_threshold,
            scale_up_cooldown=timedelta(milliseconds=self.scale_up_cooldown_ms),
            scale_down_cooldown=timedelta(milliseconds=self.scale_down_cooldown_ms),
            mode=self.scaling_mode,
            max_step=self.max_step,
            target_utilization=self.target_utilization,
            tolerance=self.tracking_tolerance,
            scale_down_stabilization=timedelta(milliseconds=self.scale_down_stabilization_ms),
            predictive=self.predictive,
        )

    def problems(self) -> list[Problem]:
        found = []
        if self.scale_down_threshold >= self.scale_up_threshold:
            up = self.scale_up_threshold
            below = f"must be below {self.env_name('scale_up_threshold')} ({up:g})"
            found.append(Problem("scale_down_threshold", below, ("scale_up_threshold",)))
        if self.min_workers > self.max_workers:
            most = f"must be at most {self.env_name('max_workers')} ({self.max_workers})"
            found.append(Problem("min_workers", most, ("max_workers",)))
        s, tol = self.target_utilization, self.tracking_tolerance
        if self.scaling_mode == "tracking" and s * (1 + tol) > 1:
            reach = (
                f"with {self.env_name('tracking_tolerance')}={tol:g} lets utilization reach "
                f"{s * (1 + tol) * 100:.1f}% before tracking mode scales up: must be at most "
                f"{1 / (1 + tol):.3f} (set point x (1 + tolerance) <= 1)"
            )
            found.append(
                Problem("target_utilization", reach, ("scaling_mode", "tracking_tolerance"))
            )
        return found

    def flap_warning(self) -> str | None:
        """Warn when the thresholds would make the fleet flap without the flap guard.

        Removing one of n workers raises utilization by n/(n-1); the engine would scale down to
        a count it immediately scales up again whenever up <= down * n/(n-1), worst at n = 2.
        """
        up, down = self.scale_up_threshold, self.scale_down_threshold
        if up > 2 * down:
            return None
        worst_n = int(up / (up - down))
        up_var, down_var = (
            self.env_name("scale_up_threshold"),
            self.env_name("scale_down_threshold"),
        )
        return (
            f"{up_var}={up:g} is at most twice {down_var}={down:g}: removing a worker from "
            f"{worst_n if worst_n > 2 else 2} or fewer can push utilization back over the up "
            "threshold, so those scale-downs would flap; the flap guard holds them instead. "
            "Widen the gap (up > 2 x down, e.g. 0.8 / 0.3) to let them happen."
        )


class DatabaseSettings(SettingsGroup):
    """Where the mailboxes and the auto-scaler's own tables are, and how they are counted."""

    database_url: str = Field("sqlite:///./warmup.db", validation_alias=_alias("DATABASE_URL"))
    mailbox_query: str = DEFAULT_QUERY
    query_timeout_ms: int = Field(10_000, gt=0)
    history_retention_days: int = Field(90, ge=1)

    @property
    def sqlalchemy_url(self) -> str:
        """`DATABASE_URL` with `postgres://` and `postgresql://` mapped to the psycopg 3 driver."""
        return normalize_database_url(self.database_url)

    @property
    def safe_url(self) -> str:
        """The URL with its password hidden."""
        return hide_password(self.sqlalchemy_url)

    @classmethod
    def shown(cls, field: str, value: object) -> str:
        if field == "database_url":
            return hide_password(str(value))
        return super().shown(field, value)

    def public_items(self) -> Any:
        for name, value in super().public_items():
            yield name, self.safe_url if name == "DATABASE_URL" else value

    def problems(self) -> list[Problem]:
        found = []
        if problem := _query_problem(self.mailbox_query):
            found.append(Problem("mailbox_query", problem))
        if problem := _url_problem(self.database_url):
            found.append(Problem("database_url", problem))
        return found


class ApiSettings(SettingsGroup):
    """The HTTP API the daemon serves."""

    model_config = SettingsConfigDict(env_prefix="AUTO_SCALER_API_")
    ALLOWED: ClassVar[dict[str, str]] = {
        "host": (
            "an IP address or a host name to listen on, e.g. 127.0.0.1 (this machine only) or "
            "0.0.0.0 (every interface)"
        ),
    }

    admin_token: SecretStr | None = Field(None, validation_alias=_alias("AUTO_SCALER_ADMIN_TOKEN"))
    host: str = "127.0.0.1"
    port: int = Field(3001, ge=1, le=65535)

    def problems(self) -> list[Problem]:
        found = []
        if problem := _token_problem(self.admin_token):
            found.append(Problem("admin_token", problem))
        if problem := _host_problem(self.host):
            found.append(Problem("host", f"{problem}; must be {self.ALLOWED['host']}"))
        return found


class WorkerSettings(SettingsGroup):
    """The warmup worker processes that are scaled (`warmup-autoscaler worker`)."""

    model_config = SettingsConfigDict(env_prefix="AUTO_SCALER_WORKER_")
    ALLOWED: ClassVar[dict[str, str]] = {
        "job": "record or warmup (the built-in jobs) or module:callable (e.g. myjobs.warmup:run)",
    }

    heartbeat_ms: int = Field(5000, gt=0)
    lease_ttl_ms: int = Field(30_000, gt=0)
    drain_timeout_ms: int = Field(25_000, gt=0)
    cycle_interval_ms: int = Field(300_000, gt=0)
    concurrency: int = Field(10, ge=1)
    job: str = "record"
    name: str | None = None
    active_mailboxes_query: str = Field(
        DEFAULT_ACTIVE_QUERY, validation_alias=_alias("AUTO_SCALER_ACTIVE_MAILBOXES_QUERY")
    )
    # touched after each successful heartbeat; `warmup-autoscaler worker-alive` checks its age
    heartbeat_file: Path | None = None

    def problems(self) -> list[Problem]:
        found = []
        if problem := _query_problem(self.active_mailboxes_query):
            problem = problem.replace("returning one number", "returning the active mailbox rows")
            found.append(Problem("active_mailboxes_query", problem))
        if self.lease_ttl_ms < 2 * self.heartbeat_ms:
            twice = (
                f"must be at least twice {self.env_name('heartbeat_ms')} ({self.heartbeat_ms}), "
                "so one late heartbeat does not lose a lease"
            )
            found.append(Problem("lease_ttl_ms", twice, ("heartbeat_ms",)))
        if self.job not in ("record", "warmup") and not re.fullmatch(r"[\w.]+:[\w.]+", self.job):
            found.append(Problem("job", f"must be {self.ALLOWED['job']}"))
        return found


class AlertSettings(SettingsGroup):
    """When alerts fire and where they are sent."""

    model_config = SettingsConfigDict(env_prefix="AUTO_SCALER_ALERT_")

    repeat_ms: int = Field(3_600_000, ge=0, json_schema_extra={"zero": "never repeat"})
    failure_threshold: int = Field(3, ge=1)
    capacity_horizon_days: float = Field(14, ge=0, json_schema_extra={"zero": "off"})
    growth_window_days: int = Field(7, ge=1)
    on_scale: bool = False
    webhook_url: SecretStr | None = None
    webhook_timeout_ms: int = Field(5000, gt=0)

    def problems(self) -> list[Problem]:
        hook = self.webhook_url.get_secret_value() if self.webhook_url else ""
        if hook and not re.match(r"^https?://[^/\s]+", hook):
            url = "must be an http:// or https:// URL (e.g. a Slack incoming webhook)"
            return [Problem("webhook_url", url)]
        return []


class LogSettings(SettingsGroup):
    model_config = SettingsConfigDict(env_prefix="AUTO_SCALER_LOG_")

    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class ReactSettings(SettingsGroup):
    """Checks on changes of the mailboxes table, besides the interval (docs/reaction.md)."""

    model_config = SettingsConfigDict(env_prefix="AUTO_SCALER_REACT_")
    ALLOWED: ClassVar[dict[str, str]] = {
        "method": "auto (the PostgreSQL trigger where installed, else the probe) or probe",
        "table": TABLE_NAME_ALLOWED,
    }

    on_change: bool = False
    method: Literal["auto", "probe"] = "auto"
    table: str = "mailboxes"
    debounce_ms: int = Field(1000, ge=100, le=3_600_000)
    probe_interval_ms: int = Field(2000, ge=100, le=3_600_000)

    @property
    def table_name(self) -> TableName:
        """The watched table, parsed (valid once the settings are loaded)."""
        return parse_table_name(self.table)

    def problems(self) -> list[Problem]:
        try:
            parse_table_name(self.table)
        except ValueError as exc:
            return [Problem("table", str(exc))]
        return []


def normalize_database_url(url: str) -> str:
    return re.sub(r"^(postgres|postgresql)://", "postgresql+psycopg://", url.strip())


def split_command(command: str) -> str | None:
    """Why `command` cannot be split into words like a shell would, or None."""
    try:
        shlex.split(command)
    except ValueError as exc:
        return f"cannot be split into words ({exc}): check its quotes"
    return None


def _query_problem(query: str) -> str | None:
    text = query.strip().rstrip(";").strip()
    if not text:
        return "must be a SQL query returning one number, e.g. " + DEFAULT_QUERY
    if not re.match(r"(?is)^(select|with)\b", text):
        return "must be a SELECT (or WITH ... SELECT) query returning one number"
    if ";" in text:
        return "must be a single SQL statement (it contains ';')"
    return None


# sqlalchemy.engine.url's own pattern for the part before the host: `name://user:password@`.
_PASSWORD = re.compile(r"^(?P<head>[\w+]+://[^:/]*:)(?P<password>[^@]*)(?=@)")


def hide_password(url: str) -> str:
    """`url` with its password as `***`, even when the URL does not parse (for error messages)."""
    try:
        return make_url(normalize_database_url(url)).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _PASSWORD.sub(lambda m: m["head"] + "***", url.strip())


def _url_problem(url: str) -> str | None:
    try:
        parsed = make_url(normalize_database_url(url))
    except ArgumentError:
        return (
            "is not a database URL: use sqlite:///./warmup.db or "
            "postgresql+psycopg://USER:PASSWORD@HOST:5432/DBNAME"
        )
    except ValueError:  # the port is not a number (sqlalchemy raises int()'s error)
        return (
            "is not a valid database URL: its port must be a number, and an IPv6 host goes in "
            "brackets (postgresql+psycopg://USER:PASSWORD@[::1]:5432/DBNAME)"
        )
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        return "must be a sqlite:/// or postgresql+psycopg:// URL"
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        return "must use the psycopg 3 driver: postgresql+psycopg://..."
    return None


MIN_TOKEN_CHARS = 16
# Placeholders of our examples and of others' (compared lower-case, letters and digits only).
PLACEHOLDER_TOKENS = {
    "changeme",
    "replaceme",
    "youradmintoken",
    "yourtoken",
    "admintoken",
    "token",
    "secret",
    "password",
    "example",
    "placeholder",
    "xxx",
    "todo",
}
PLACEHOLDER_PARTS = ("changeme", "replaceme", "youradmintoken", "placeholder")


def _token_problem(token: SecretStr | None) -> str | None:
    """Why the admin token must not be used; unset or empty (admin endpoints off) is fine."""
    value = token.get_secret_value() if token is not None else ""
    if not value:
        return None
    how = (
        f"set a random token of at least {MIN_TOKEN_CHARS} characters "
        "(e.g. `openssl rand -hex 32`), or unset it to disable the admin endpoints"
    )
    letters = re.sub(r"[^a-z0-9]", "", value.lower())
    if letters in PLACEHOLDER_TOKENS or any(part in letters for part in PLACEHOLDER_PARTS):
        return f"is a placeholder from an example, not a secret: {how}"
    if len(value) < MIN_TOKEN_CHARS:
        return f"is {len(value)} characters long, too short to be a secret: {how}"
    return None


_HOST_NAME = re.compile(
    r"(?i)^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def _host_problem(host: str) -> str | None:
    """Why `host` is not a clear address to listen on: an empty value or a shorthand such as `0`
    would make the server listen on every interface."""
    if not host.strip():
        return "is empty (it would listen on every interface)"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return None
    if _HOST_NAME.match(host):
        return None
    if re.fullmatch(r"[0-9.]+", host):
        return "is a shorthand address (0 would listen on every interface)"
    return "is neither an IP address nor a host name"
