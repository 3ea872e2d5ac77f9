"""Platforms: where the workers run. One module each; this registry names them.

A platform is a `BasePlatform` subclass in a module of its own, with its settings class; adding
one is one file and one line in `PLATFORMS` (see docs/architecture.md). Modules are imported only
when their platform is chosen, so an optional SDK (kubernetes, docker) is loaded only where used.
"""

from __future__ import annotations

import importlib

from warmup_autoscaler.config import DaemonSettings, Settings
from warmup_autoscaler.config.base import SettingsGroup
from warmup_autoscaler.errors import ConfigError
from warmup_autoscaler.platforms.base import BasePlatform, Platform, PlatformContext

__all__ = [
    "PLATFORMS",
    "Platform",
    "PlatformContext",
    "create_platform",
    "platform_class",
    "platform_settings_class",
]

# AUTO_SCALER_PLATFORM value -> "module:class" of its plugin.
PLATFORMS: dict[str, str] = {
    "local": "warmup_autoscaler.platforms.local:LocalPlatform",
    "manual": "warmup_autoscaler.platforms.manual:ManualPlatform",
    "docker": "warmup_autoscaler.platforms.docker:DockerComposePlatform",
    "swarm": "warmup_autoscaler.platforms.swarm:SwarmPlatform",
    "kubernetes": "warmup_autoscaler.platforms.kubernetes:KubernetesPlatform",
    "command": "warmup_autoscaler.platforms.command:CommandPlatform",
}
# The optional dependencies (pip extras) a platform's module needs beyond the core.
EXTRAS = {"docker": "docker", "swarm": "docker", "kubernetes": "kubernetes"}


def platform_class(name: str) -> type[BasePlatform]:  # type: ignore[type-arg]
    """The plugin class registered as `name` (a key of `PLATFORMS`)."""
    module, _, attr = PLATFORMS[name].partition(":")
    try:
        loaded = importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRAS.get(name, "all")
        missing = f" (no module {exc.name.split('.')[0]})" if exc.name else ""
        raise ConfigError(
            [
                f"{DaemonSettings.env_name('platform')}={name}: needs the {extra} extra, which is "
                f"not installed{missing}: pip install 'warmup-autoscaler[{extra}]'"
            ]
        ) from exc
    cls: type[BasePlatform] = getattr(loaded, attr)  # type: ignore[type-arg]
    return cls


def platform_settings_class(name: str) -> type[SettingsGroup]:
    return platform_class(name).settings_class


def create_platform(settings: Settings, context: PlatformContext) -> Platform:
    """The platform `AUTO_SCALER_PLATFORM` names, built from its settings (already validated)."""
    cls = platform_class(settings.daemon.platform)
    platform: Platform = cls.from_settings(settings.platform, context)
    return platform
