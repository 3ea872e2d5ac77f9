"""Platforms: where the workers run. Each adapter wraps its driver's errors in PlatformError."""

from __future__ import annotations

import shlex

from warmup_autoscaler.config import Settings
from warmup_autoscaler.platforms.base import Platform

__all__ = ["Platform", "create_platform"]


def create_platform(settings: Settings) -> Platform:
    """The platform `AUTO_SCALER_PLATFORM` names, built from its settings (already validated)."""
    if settings.platform == "local":
        from warmup_autoscaler.platforms.local import LocalPlatform

        return LocalPlatform(
            command=shlex.split(settings.local_worker_command or ""),
            log_dir=settings.local_log_dir,
            stop_grace_s=settings.local_stop_grace_ms / 1000,
            restart_backoff_s=settings.local_restart_backoff_ms / 1000,
        )
    from warmup_autoscaler.platforms.manual import ManualPlatform

    return ManualPlatform(workers=settings.manual_workers)
