"""The swarm platform: the replicas of one Docker Swarm service, for fleets spanning several hosts.

The count is the service's desired replicas (`Spec.Mode.Replicated.Replicas`, what `docker service
ls` shows after the slash); scaling updates it through the Engine API of a manager node, and Swarm
then starts or stops tasks on any node, honouring the service's stop grace period.
"""

from __future__ import annotations

from typing import Any, Self

from docker.errors import APIError, NotFound
from docker.models.services import Service
from pydantic import AliasChoices, Field

from warmup_autoscaler.errors import PlatformError
from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.platforms.base import BasePlatform, PlatformContext, TimeoutSettings
from warmup_autoscaler.platforms.docker_engine import ENGINE_ERRORS, Engine, engine_error

__all__ = ["SwarmPlatform", "SwarmSettings"]

log = get_logger(__name__)


class SwarmSettings(TimeoutSettings):
    # AUTO_SCALER_SWARM_SERVICE_NAME, else AUTO_SCALER_DOCKER_SERVICE_NAME, else warmup-worker.
    service_name: str = Field(
        "warmup-worker",
        validation_alias=AliasChoices(
            "AUTO_SCALER_SWARM_SERVICE_NAME", "AUTO_SCALER_DOCKER_SERVICE_NAME"
        ),
    )


SERVICE_VAR = SwarmSettings.env_name("service_name")
# Another client updated the service between our read and our write (its version moved on).
UPDATE_ATTEMPTS = 3


class SwarmPlatform(BasePlatform[SwarmSettings]):
    """Reads and sets the replicas of the replicated Swarm service `service`.

    Nothing is contacted before the first call; the Engine (DOCKER_HOST, default the local socket)
    must be a swarm manager. A service in global mode cannot be scaled and is refused.
    """

    name = "swarm"
    settings_class = SwarmSettings

    def __init__(self, *, service: str, timeout_s: float = 120.0) -> None:
        if not service.strip():
            raise PlatformError(f"{SERVICE_VAR} is empty; set it to the Swarm service to scale")
        self._service = service
        self._engine = Engine(timeout_s)

    @classmethod
    def from_settings(cls, settings: SwarmSettings, context: PlatformContext) -> Self:
        return cls(service=settings.service_name, timeout_s=settings.timeout_s)

    def close(self) -> None:
        """Close the Engine connection (idempotent); the next call opens a new one."""
        self._engine.close()

    def current_workers(self) -> int:
        with self._engine.lock:
            return _replicas(self._get())

    def _scale_to(self, workers: int) -> None:
        """Set the desired replicas; returns once Swarm has accepted the update."""
        with self._engine.lock:
            for attempt in range(1, UPDATE_ATTEMPTS + 1):
                service = self._get()
                _replicas(service)  # refuses global mode with a clear message
                try:
                    service.scale(workers)
                    return
                except APIError as exc:
                    if "out of sequence" in str(exc) and attempt < UPDATE_ATTEMPTS:
                        log.info("swarm_service_changed_retrying", service=self._service)
                        continue
                    raise self._error(exc, f"scale service {self._service} to {workers}") from exc
                except ENGINE_ERRORS as exc:
                    raise self._error(exc, f"scale service {self._service} to {workers}") from exc

    def _get(self) -> Service:
        try:
            client = self._engine.client()
            # types-docker leaves ServiceCollection.get untyped.
            service: Service = client.services.get(self._service)  # type: ignore[no-untyped-call]
            return service
        except NotFound as exc:
            raise PlatformError(
                f"no Swarm service named {self._service!r} (`docker service ls`; a stack's "
                f"services are named STACK_SERVICE); set {SERVICE_VAR}"
            ) from exc
        except ENGINE_ERRORS as exc:
            raise self._error(exc, f"read Swarm service {self._service}") from exc

    def _error(self, exc: BaseException, doing: str) -> PlatformError:
        text = str(exc)
        if "not a swarm manager" in text or "not part of a swarm" in text:
            return PlatformError(
                f"cannot {doing}: this Docker Engine is not a Swarm manager. Run the auto-scaler "
                "on a manager node (`docker node ls` works there) or point DOCKER_HOST at one; for "
                "Compose on a single host use AUTO_SCALER_PLATFORM=docker"
            )
        return engine_error(exc, doing)


def _replicas(service: Service) -> int:
    mode: dict[str, Any] = service.attrs.get("Spec", {}).get("Mode", {})
    if "Replicated" not in mode:
        kind = next(iter(mode), "unknown").lower()
        raise PlatformError(
            f"Swarm service {service.name!r} runs in {kind} mode, which has no replica count to "
            "scale; deploy the workers as a replicated service (deploy.mode: replicated)"
        )
    return int(mode["Replicated"].get("Replicas", 1))
