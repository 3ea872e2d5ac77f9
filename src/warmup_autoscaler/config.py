"""Settings from the environment and `.env`, validated all at once.

Every variable of the seed keeps its name and default. `load_settings` reports every bad variable
in one `ConfigError`, one line each naming the variable, its value and what is allowed.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from warmup_autoscaler.errors import ConfigError

__all__ = ["AVAILABLE_PLATFORMS", "PLANNED_PLATFORMS", "Settings", "env_name", "load_settings"]

ENV_PREFIX = "AUTO_SCALER_"
AVAILABLE_PLATFORMS = ("local", "manual", "docker", "swarm", "kubernetes", "command")
PLANNED_PLATFORMS: tuple[str, ...] = ()  # named here are refused as "not available yet"
DEFAULT_QUERY = "SELECT COUNT(*) FROM mailboxes WHERE status = 'active'"
DEFAULT_ACTIVE_QUERY = "SELECT * FROM mailboxes WHERE status = 'active'"

# What each field allows, as the tail of "must be ...": used to explain a bad value.
ALLOWED: dict[str, str] = {
    "enabled": "true or false",
    "check_interval_ms": "a whole number of milliseconds greater than 0 (e.g. 300000)",
    "mailboxes_per_worker": "a whole number of at least 1 (e.g. 1000)",
    "min_workers": "a whole number of at least 0 (e.g. 1)",
    "max_workers": "a whole number of at least 1 (e.g. 100)",
    "scale_up_threshold": "a number greater than 0 and at most 1 (e.g. 0.8)",
    "scale_down_threshold": "a number greater than 0 and at most 1 (e.g. 0.3)",
    "scale_up_cooldown_ms": "a whole number of milliseconds, 0 or more (e.g. 300000)",
    "scale_down_cooldown_ms": "a whole number of milliseconds, 0 or more (e.g. 600000)",
    "platform": f"one of {', '.join(AVAILABLE_PLATFORMS)}",
    "scaling_mode": "step or target",
    "max_step": "a whole number of at least 1 (e.g. 10)",
    "api_port": "a TCP port from 1 to 65535 (e.g. 3001)",
    "query_timeout_ms": "a whole number of milliseconds greater than 0 (e.g. 10000)",
    "local_stop_grace_ms": "a whole number of milliseconds, 0 or more (e.g. 30000)",
    "local_restart_backoff_ms": "a whole number of milliseconds greater than 0 (e.g. 1000)",
    "manual_workers": "a whole number of at least 0 (e.g. 1)",
    "platform_command_timeout_ms": "a whole number of milliseconds greater than 0 (e.g. 120000)",
    "worker_heartbeat_ms": "a whole number of milliseconds greater than 0 (e.g. 5000)",
    "worker_lease_ttl_ms": "a whole number of milliseconds greater than 0 (e.g. 30000)",
    "worker_drain_timeout_ms": "a whole number of milliseconds greater than 0 (e.g. 25000)",
    "worker_cycle_interval_ms": "a whole number of milliseconds greater than 0 (e.g. 300000)",
    "worker_concurrency": "a whole number of at least 1 (e.g. 10)",
    "dry_run": "true or false",
    "alert_repeat_ms": "a whole number of milliseconds, 0 (never repeat) or more",
    "alert_failure_threshold": "a whole number of at least 1 (e.g. 3)",
    "alert_capacity_horizon_days": "a number of days, 0 (off) or more (e.g. 14)",
    "alert_growth_window_days": "a whole number of days, at least 1 (e.g. 7)",
    "alert_on_scale": "true or false",
    "alert_webhook_timeout_ms": "a whole number of milliseconds greater than 0 (e.g. 5000)",
    "history_retention_days": "a whole number of days, at least 1 (e.g. 90)",
    "log_format": "auto, json or console",
    "log_level": "debug, info, warning or error",
}


class Settings(BaseSettings):
    """The effective configuration; field `x` is read from `AUTO_SCALER_X` unless noted."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    enabled: bool = True
    check_interval_ms: int = Field(300_000, gt=0)
    mailboxes_per_worker: int = Field(1000, ge=1)
    min_workers: int = Field(1, ge=0)
    max_workers: int = Field(100, ge=1)
    scale_up_threshold: float = Field(0.8, gt=0, le=1)
    scale_down_threshold: float = Field(0.3, gt=0, le=1)
    scale_up_cooldown_ms: int = Field(300_000, ge=0)
    scale_down_cooldown_ms: int = Field(600_000, ge=0)
    platform: str = "local"
    scaling_mode: Literal["step", "target"] = "step"
    max_step: int = Field(10, ge=1)

    database_url: str = Field(
        "sqlite:///./warmup.db", validation_alias=AliasChoices("DATABASE_URL", "database_url")
    )
    mailbox_query: str = DEFAULT_QUERY
    query_timeout_ms: int = Field(10_000, gt=0)

    admin_token: SecretStr | None = None
    api_host: str = "127.0.0.1"
    api_port: int = Field(3001, ge=1, le=65535)

    local_worker_command: str | None = None
    local_log_dir: Path = Path("./logs")
    local_stop_grace_ms: int = Field(30_000, ge=0)
    local_restart_backoff_ms: int = Field(1000, gt=0)

    manual_workers: int | None = Field(None, ge=0)  # unset: live workers in the registry

    # docker (a Compose service on one host) and swarm (a Swarm service)
    docker_compose_file: Path = Path("docker-compose.auto-scale.yml")
    docker_project: str | None = None
    docker_service_name: str = "warmup-worker"
    docker_compose_command: str | None = None  # found automatically: `docker compose` or v1
    swarm_service_name: str | None = None  # default: AUTO_SCALER_DOCKER_SERVICE_NAME
    # kubernetes
    k8s_deployment_name: str = "warmup-workers"
    k8s_namespace: str = "default"
    # command: any process manager (PM2, systemd templates, ...)
    scale_command: str | None = None  # a template with {replicas}
    current_workers_command: str | None = None  # prints a number; unset: the worker registry
    platform_command_timeout_ms: int = Field(120_000, gt=0)

    worker_heartbeat_ms: int = Field(5000, gt=0)
    worker_lease_ttl_ms: int = Field(30_000, gt=0)
    worker_drain_timeout_ms: int = Field(25_000, gt=0)
    worker_cycle_interval_ms: int = Field(300_000, gt=0)
    worker_concurrency: int = Field(10, ge=1)
    worker_job: str = "record"
    worker_name: str | None = None
    active_mailboxes_query: str = DEFAULT_ACTIVE_QUERY

    dry_run: bool = False
    alert_repeat_ms: int = Field(3_600_000, ge=0)
    alert_failure_threshold: int = Field(3, ge=1)
    alert_capacity_horizon_days: float = Field(14, ge=0)
    alert_growth_window_days: int = Field(7, ge=1)
    alert_on_scale: bool = False
    alert_webhook_url: SecretStr | None = None
    alert_webhook_timeout_ms: int = Field(5000, gt=0)
    history_retention_days: int = Field(90, ge=1)

    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @property
    def sqlalchemy_url(self) -> str:
        """`DATABASE_URL` with `postgres://` and `postgresql://` mapped to the psycopg 3 driver."""
        return normalize_database_url(self.database_url)

    def cross_field_problems(
        self, skip: set[str], *, for_platform: bool = True
    ) -> list[tuple[str, str]]:
        """Problems that involve several fields or the shape of a value, as (field, message).

        `for_platform=False` leaves out what only running the platform needs (the database commands).
        """
        found: list[tuple[str, str]] = []

        def check(fields: tuple[str, ...], bad: bool, field: str, message: str) -> None:
            if bad and not skip.intersection(fields):
                found.append((field, message))

        up, down = self.scale_up_threshold, self.scale_down_threshold
        check(
            ("scale_up_threshold", "scale_down_threshold"),
            down >= up,
            "scale_down_threshold",
            f"must be below {env_name('scale_up_threshold')} ({up:g})",
        )
        check(
            ("min_workers", "max_workers"),
            self.min_workers > self.max_workers,
            "min_workers",
            f"must be at most {env_name('max_workers')} ({self.max_workers})",
        )
        platform_problem = _platform_problem(self.platform)
        check(("platform",), platform_problem is not None, "platform", platform_problem or "")
        query_problem = _query_problem(self.mailbox_query)
        check(("mailbox_query",), query_problem is not None, "mailbox_query", query_problem or "")
        active_problem = _query_problem(self.active_mailboxes_query)
        check(
            ("active_mailboxes_query",),
            active_problem is not None,
            "active_mailboxes_query",
            (active_problem or "").replace(
                "returning one number", "returning the active mailbox rows"
            ),
        )
        check(
            ("worker_heartbeat_ms", "worker_lease_ttl_ms"),
            self.worker_lease_ttl_ms < 2 * self.worker_heartbeat_ms,
            "worker_lease_ttl_ms",
            f"must be at least twice AUTO_SCALER_WORKER_HEARTBEAT_MS ({self.worker_heartbeat_ms}), "
            "so one late heartbeat does not lose a lease",
        )
        hook = self.alert_webhook_url.get_secret_value() if self.alert_webhook_url else ""
        check(
            ("alert_webhook_url",),
            bool(hook) and not re.match(r"^https?://[^/\s]+", hook),
            "alert_webhook_url",
            "must be an http:// or https:// URL (e.g. a Slack incoming webhook)",
        )
        job = self.worker_job
        check(
            ("worker_job",),
            job != "record" and not re.fullmatch(r"[\w.]+:[\w.]+", job),
            "worker_job",
            "must be record (the built-in job) or module:callable (e.g. myjobs.warmup:run)",
        )
        url_problem = _url_problem(self.database_url)
        check(("database_url",), url_problem is not None, "database_url", url_problem or "")
        command = self.local_worker_command
        template = self.scale_command
        check(
            ("platform", "scale_command"),
            for_platform and self.platform == "command" and "{replicas}" not in (template or ""),
            "scale_command",
            "is required with AUTO_SCALER_PLATFORM=command and must contain {replicas} "
            "(e.g. AUTO_SCALER_SCALE_COMMAND='pm2 scale warmup-worker {replicas}')",
        )
        if command and command.strip():
            try:
                shlex.split(command)
            except ValueError as exc:
                check(
                    ("local_worker_command",),
                    True,
                    "local_worker_command",
                    f"cannot be split into words ({exc}): check its quotes",
                )
        return found

    def public_dict(self) -> dict[str, Any]:
        """Every setting by environment name, with secrets and passwords masked."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else None
            elif name == "database_url":
                value = make_url(self.sqlalchemy_url).render_as_string(hide_password=True)
            elif isinstance(value, Path):
                value = str(value)
            out[env_name(name)] = value
        return out


def env_name(field: str) -> str:
    """The environment variable that sets `field`."""
    return "DATABASE_URL" if field == "database_url" else ENV_PREFIX + field.upper()


def normalize_database_url(url: str) -> str:
    return re.sub(r"^(postgres|postgresql)://", "postgresql+psycopg://", url.strip())


def _platform_problem(platform: str) -> str | None:
    if platform in AVAILABLE_PLATFORMS:
        return None
    if platform in PLANNED_PLATFORMS:
        return (
            f"the {platform} platform is not available in this version yet; "
            f"choose one of {', '.join(AVAILABLE_PLATFORMS)}"
        )
    return f"must be {ALLOWED['platform']}"


def _query_problem(query: str) -> str | None:
    text = query.strip().rstrip(";").strip()
    if not text:
        return "must be a SQL query returning one number, e.g. " + DEFAULT_QUERY
    if not re.match(r"(?is)^(select|with)\b", text):
        return "must be a SELECT (or WITH ... SELECT) query returning one number"
    if ";" in text:
        return "must be a single SQL statement (it contains ';')"
    return None


def _url_problem(url: str) -> str | None:
    try:
        parsed = make_url(normalize_database_url(url))
    except ArgumentError:
        return (
            "is not a database URL: use sqlite:///./warmup.db or "
            "postgresql+psycopg://USER:PASSWORD@HOST:5432/DBNAME"
        )
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        return "must be a sqlite:/// or postgresql+psycopg:// URL"
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        return "must use the psycopg 3 driver: postgresql+psycopg://..."
    return None


def _raw_value(field: str, env_file: Path | None) -> str:
    name = env_name(field)
    if name in os.environ:
        return os.environ[name]
    if env_file is not None and env_file.is_file():
        from dotenv import dotenv_values

        value = dotenv_values(env_file).get(name)
        if value is not None:
            return value
    return "(unset)"


def load_settings(
    env_file: str | Path | None = ".env", *, for_platform: bool = True, **overrides: Any
) -> Settings:
    """Read and validate every setting; raise `ConfigError` listing every bad variable.

    `for_platform=False` skips the checks only running the platform needs (for database commands).
    """
    path = Path(env_file) if env_file is not None else None
    failing: dict[str, str] = {}
    try:
        settings = Settings(_env_file=path, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            field = "database_url" if field == "DATABASE_URL" else field
            if field not in failing:
                shown = overrides.get(field, _raw_value(field, path))
                allowed = ALLOWED.get(field, error["msg"])
                failing[field] = f"{env_name(field)}={shown!s}: must be {allowed}"
        defaults = {f: Settings.model_fields[f].default for f in failing}
        settings = Settings(_env_file=path, **{**overrides, **defaults})  # type: ignore[call-arg]
    problems = list(failing.values())
    for field, message in settings.cross_field_problems(
        skip=set(failing), for_platform=for_platform
    ):
        value = getattr(settings, field)
        problems.append(f"{env_name(field)}={value!s}: {message}")
    if problems:
        raise ConfigError(problems)
    return settings


def flap_warning(settings: Settings) -> str | None:
    """Warn when the thresholds would make the fleet flap without the flap guard.

    Removing one of n workers raises utilization by n/(n-1); the engine would scale down to a
    count it immediately scales up again whenever up <= down * n/(n-1), worst at n = 2.
    """
    up, down = settings.scale_up_threshold, settings.scale_down_threshold
    if up > 2 * down:
        return None
    worst_n = int(up / (up - down))
    return (
        f"AUTO_SCALER_SCALE_UP_THRESHOLD={up:g} is at most twice AUTO_SCALER_SCALE_DOWN_THRESHOLD="
        f"{down:g}: removing a worker from {worst_n if worst_n > 2 else 2} or fewer can push "
        f"utilization back over the up threshold, so those scale-downs would flap; the flap guard "
        f"holds them instead. Widen the gap (up > 2 x down, e.g. 0.8 / 0.3) to let them happen."
    )
