"""Settings from the environment and `.env`, grouped by part, validated all at once.

`load_settings` reads every group and the chosen platform's own settings class (each platform
owns its settings, see `warmup_autoscaler.platforms`), and reports every bad variable in one
`ConfigError`, one line each naming the variable, its value and what is allowed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from warmup_autoscaler.config.base import ENV_PREFIX, SettingsGroup
from warmup_autoscaler.config.groups import (
    DEFAULT_ACTIVE_QUERY,
    DEFAULT_QUERY,
    AlertSettings,
    ApiSettings,
    DaemonSettings,
    DatabaseSettings,
    LogSettings,
    PolicySettings,
    ReactSettings,
    WorkerSettings,
    normalize_database_url,
)
from warmup_autoscaler.config.warmup import WarmupSettings
from warmup_autoscaler.errors import ConfigError

__all__ = [
    "API_URL_VAR",
    "DEFAULT_ACTIVE_QUERY",
    "DEFAULT_QUERY",
    "ENV_FILE_VAR",
    "ENV_PREFIX",
    "WORKER_INDEX_VAR",
    "AlertSettings",
    "ApiSettings",
    "DaemonSettings",
    "DatabaseSettings",
    "LogSettings",
    "PolicySettings",
    "ReactSettings",
    "Settings",
    "SettingsGroup",
    "WarmupSettings",
    "WorkerSettings",
    "all_env_names",
    "load_group",
    "load_settings",
    "normalize_database_url",
]

# Variables that are not settings of a group: read by the CLI and set by the local platform.
ENV_FILE_VAR = "AUTO_SCALER_ENV_FILE"  # the settings file the CLI reads (default .env)
API_URL_VAR = "AUTO_SCALER_API_URL"  # where the CLI finds the running daemon
WORKER_INDEX_VAR = "AUTO_SCALER_WORKER_INDEX"  # set by the local platform for each worker

G = TypeVar("G", bound=SettingsGroup)

CORE_GROUPS: dict[str, type[SettingsGroup]] = {
    "daemon": DaemonSettings,
    "policy": PolicySettings,
    "database": DatabaseSettings,
    "api": ApiSettings,
    "worker": WorkerSettings,
    "alerts": AlertSettings,
    "logs": LogSettings,
    "react": ReactSettings,
    "warmup": WarmupSettings,
}


class NoPlatformSettings(SettingsGroup):
    """What a process that runs no platform (a worker, `db init`) has for platform settings."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The effective configuration: one frozen group per part, and the chosen platform's."""

    daemon: DaemonSettings
    policy: PolicySettings
    database: DatabaseSettings
    api: ApiSettings
    worker: WorkerSettings
    alerts: AlertSettings
    logs: LogSettings
    react: ReactSettings
    warmup: WarmupSettings
    # The settings class of the platform `daemon.platform` names (NoPlatformSettings when the
    # settings were loaded for a process that runs no platform).
    platform: SettingsGroup

    def groups(self) -> list[SettingsGroup]:
        return [getattr(self, f.name) for f in fields(self)]

    def public_dict(self) -> dict[str, Any]:
        """Every setting by environment name, with secrets and passwords masked."""
        return {name: value for group in self.groups() for name, value in group.public_items()}


def load_settings(
    env_file: str | Path | None = ".env",
    *,
    for_platform: bool = True,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read and validate every setting; raise `ConfigError` listing every bad variable.

    `overrides` maps variable names to values that win over the environment (for tests and
    tools). `for_platform=False` leaves out the checks that only running the platform needs
    (the database commands and the workers run no platform).
    """
    from warmup_autoscaler.platforms import PLATFORMS, platform_settings_class

    path = Path(env_file) if env_file is not None else None
    given = dict(overrides or {})
    problems: list[str] = []
    built = {
        name: _build(cls, path, given, problems, check=True) for name, cls in CORE_GROUPS.items()
    }
    daemon = built["daemon"]
    assert isinstance(daemon, DaemonSettings)
    platform_cls: type[SettingsGroup] = NoPlatformSettings
    if daemon.platform not in PLATFORMS:
        problems.append(
            f"{DaemonSettings.env_name('platform')}={daemon.platform}: must be one of "
            f"{', '.join(PLATFORMS)}"
        )
    elif for_platform:
        try:
            platform_cls = platform_settings_class(daemon.platform)
        except ConfigError as exc:
            problems.extend(exc.problems)
    platform = _build(platform_cls, path, given, problems, check=for_platform)
    if problems:
        raise ConfigError(problems)
    return Settings(platform=platform, **built)  # type: ignore[arg-type]


def load_group(cls: type[G], env_file: str | Path | None = ".env") -> G:
    """One group of settings, validated as `load_settings` validates it (for the commands that
    need only that group, e.g. the API's address and token for `status` and `trigger`)."""
    problems: list[str] = []
    group = _build(cls, Path(env_file) if env_file is not None else None, {}, problems, check=True)
    if problems:
        raise ConfigError(problems)
    assert isinstance(group, cls)
    return group


def all_env_names() -> list[str]:
    """Every variable a settings class reads, every platform's included."""
    from warmup_autoscaler.platforms import PLATFORMS, platform_settings_class

    classes = [*CORE_GROUPS.values(), *(platform_settings_class(n) for n in PLATFORMS)]
    return list(dict.fromkeys(name for cls in classes for name in cls.env_names()))


def _build(
    cls: type[SettingsGroup],
    path: Path | None,
    given: dict[str, Any],
    problems: list[str],
    *,
    check: bool,
) -> SettingsGroup:
    """One group from the environment, `path` and `given`; its problems appended to `problems`."""
    by_env = {cls.env_name(f): f for f in cls.model_fields}
    kwargs = {by_env[k]: v for k, v in given.items() if k in by_env}
    failing: set[str] = set()
    try:
        group = cls(_env_file=path, **kwargs)  # type: ignore[call-arg]
    except ValidationError as exc:
        for error in exc.errors():
            loc = str(error["loc"][0]) if error["loc"] else "?"
            field = by_env.get(loc, loc)
            if field in failing or field not in cls.model_fields:
                continue
            failing.add(field)
            env = cls.env_name(field)
            shown = cls.shown(field, given.get(env, _raw_value(env, path)))
            if check:
                problems.append(f"{env}={shown}: must be {cls.allowed(field)}")
        defaults = {f: cls.model_fields[f].default for f in failing}
        group = cls(_env_file=path, **{**kwargs, **defaults})  # type: ignore[call-arg]
    if check:
        for field, message, involves in group.problems():
            if field not in failing and failing.isdisjoint(involves):
                value = getattr(group, field)
                shown = "(unset)" if value is None else cls.shown(field, value)
                problems.append(f"{cls.env_name(field)}={shown}: {message}")
    return group


def _raw_value(name: str, env_file: Path | None) -> str:
    if name in os.environ:
        return os.environ[name]
    if env_file is not None and env_file.is_file():
        from dotenv import dotenv_values

        value = dotenv_values(env_file).get(name)
        if value is not None:
            return value
    return "(unset)"
