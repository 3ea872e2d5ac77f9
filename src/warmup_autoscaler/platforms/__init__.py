"""Platforms: where the workers run. Each adapter wraps its driver's errors in PlatformError."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable

from warmup_autoscaler.config import Settings
from warmup_autoscaler.errors import PlatformError, StoreError
from warmup_autoscaler.platforms.base import Platform

__all__ = ["Platform", "create_platform"]


def create_platform(settings: Settings) -> Platform:
    """The platform `AUTO_SCALER_PLATFORM` names, built from its settings (already validated)."""
    if settings.platform == "local":
        from warmup_autoscaler.platforms.local import LocalPlatform

        command = settings.local_worker_command
        return LocalPlatform(
            command=shlex.split(command) if command else default_worker_command(),
            log_dir=settings.local_log_dir,
            stop_grace_s=settings.local_stop_grace_ms / 1000,
            restart_backoff_s=settings.local_restart_backoff_ms / 1000,
        )
    timeout_s = settings.platform_command_timeout_ms / 1000
    if settings.platform == "docker":
        from warmup_autoscaler.platforms.docker import DockerComposePlatform

        return DockerComposePlatform(
            compose_file=settings.docker_compose_file,
            service=settings.docker_service_name,
            project=settings.docker_project,
            compose_command=settings.docker_compose_command,
            timeout_s=timeout_s,
        )
    if settings.platform == "swarm":
        from warmup_autoscaler.platforms.swarm import SwarmPlatform

        return SwarmPlatform(
            service=settings.swarm_service_name or settings.docker_service_name,
            timeout_s=timeout_s,
        )
    if settings.platform == "kubernetes":
        from warmup_autoscaler.platforms.kubernetes import KubernetesPlatform

        return KubernetesPlatform(
            deployment=settings.k8s_deployment_name,
            namespace=settings.k8s_namespace,
            request_timeout_s=timeout_s,
        )
    if settings.platform == "command":
        from warmup_autoscaler.platforms.command import CommandPlatform

        return CommandPlatform(
            scale_command=settings.scale_command or "",
            current_workers_command=settings.current_workers_command,
            live_workers=None
            if settings.current_workers_command
            else live_worker_counter(settings),
            timeout_s=timeout_s,
        )
    from warmup_autoscaler.platforms.manual import ManualPlatform

    if settings.manual_workers is not None:
        return ManualPlatform(workers=settings.manual_workers)
    return ManualPlatform(count=live_worker_counter(settings))


def default_worker_command() -> list[str]:
    """`warmup-autoscaler worker` with this interpreter: the default local worker."""
    return [sys.executable, "-m", "warmup_autoscaler", "worker"]


def live_worker_counter(settings: Settings) -> Callable[[], int]:
    """Counts live workers in the registry (a database of its own, so platforms stay apart)."""
    from warmup_autoscaler.store.database import Database
    from warmup_autoscaler.store.workers import count_live_workers

    db = Database(settings.sqlalchemy_url, query_timeout_ms=settings.query_timeout_ms)

    def count() -> int:
        try:
            return count_live_workers(db, settings.worker_lease_ttl_ms)
        except StoreError as exc:
            raise PlatformError(
                f"cannot count live workers in the registry: {exc.message}"
            ) from exc

    return count
