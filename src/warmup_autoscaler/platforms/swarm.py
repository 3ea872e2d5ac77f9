"""The swarm platform: the replicas of one Docker Swarm service, for fleets spanning several hosts.

The count is the service's desired replicas (`Spec.Mode.Replicated.Replicas`, what `docker service
ls` shows after the slash); scaling updates it through the Engine API of a manager node, and Swarm
then starts or stops tasks on any node, honouring the service's stop grace period.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, NotFound
from docker.models.services import Service

from warmup_autoscaler.errors import PlatformError
from warmup_autoscaler.platforms.docker import engine_client, engine_error

__all__ = ["SwarmPlatform"]

log = logging.getLogger(__name__)

SERVICE_VAR = "AUTO_SCALER_SWARM_SERVICE_NAME"
# Another client updated the service between our read and our write (its version moved on).
UPDATE_ATTEMPTS = 3


class SwarmPlatform:
    """Reads and sets the replicas of the replicated Swarm service `service`.

    Nothing is contacted before the first call; the Engine (DOCKER_HOST, default the local socket)
    must be a swarm manager. A service in global mode cannot be scaled and is refused.
    """

    name = "swarm"

    def __init__(self, *, service: str, timeout_s: float = 120.0) -> None:
        if not service.strip():
            raise PlatformError(f"{SERVICE_VAR} is empty; set it to the Swarm service to scale")
        self._service = service
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._client: docker.DockerClient | None = None

    def close(self) -> None:
        """Close the Engine connection (idempotent); the next call opens a new one."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def current_workers(self) -> int:
        with self._lock:
            return _replicas(self._get())

    def scale_to(self, workers: int) -> None:
        """Set the desired replicas; returns once Swarm has accepted the update."""
        if workers < 0:
            raise PlatformError(f"cannot scale to {workers} workers; the count must be 0 or more")
        with self._lock:
            for attempt in range(1, UPDATE_ATTEMPTS + 1):
                service = self._get()
                _replicas(service)  # refuses global mode with a clear message
                try:
                    service.scale(workers)
                    return
                except APIError as exc:
                    if "out of sequence" in str(exc) and attempt < UPDATE_ATTEMPTS:
                        log.info("swarm: service %s changed meanwhile; retrying", self._service)
                        continue
                    raise self._error(exc, f"scale service {self._service} to {workers}") from exc
                except (DockerException, requests.RequestException, OSError) as exc:
                    raise self._error(exc, f"scale service {self._service} to {workers}") from exc

    def _get(self) -> Service:
        try:
            if self._client is None:
                self._client = engine_client(self._timeout_s)
            # types-docker leaves ServiceCollection.get untyped.
            service: Service = self._client.services.get(self._service)  # type: ignore[no-untyped-call]
            return service
        except NotFound as exc:
            raise PlatformError(
                f"no Swarm service named {self._service!r} (`docker service ls`; a stack's "
                f"services are named STACK_SERVICE); set {SERVICE_VAR}"
            ) from exc
        except (DockerException, requests.RequestException, OSError) as exc:
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
