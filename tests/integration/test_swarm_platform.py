"""The swarm platform against a real single-node Docker Swarm (`docker swarm init` on 127.0.0.1).

Each test that needs a swarm initialises one and leaves it afterwards (unless the engine was a
swarm manager already, which is then used and left as it was). Services are created through the
Engine API, never the CLI, which would ask a registry for the image's digest.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import docker
import pytest
from docker.models.services import Service
from docker.types import EndpointSpec, ServiceMode

from tests.docker_support import (  # noqa: F401 (fixtures)
    busybox_image,
    docker_engine,
    run,
    unavailable,
    wait_until,
)
from warmup_autoscaler.errors import PlatformError
from warmup_autoscaler.platforms.base import Platform
from warmup_autoscaler.platforms.swarm import SwarmPlatform

pytestmark = pytest.mark.docker

MakeService = Callable[..., Service]


def _swarm_state(client: docker.DockerClient) -> str:
    return str(client.info()["Swarm"]["LocalNodeState"])


@pytest.fixture
def swarm(docker_engine: docker.DockerClient) -> Iterator[docker.DockerClient]:  # noqa: F811
    """A swarm manager: this engine, after `docker swarm init --advertise-addr 127.0.0.1`."""
    ours = _swarm_state(docker_engine) != "active"
    if ours:
        done = run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], check=False)
        if done.returncode != 0:
            unavailable(f"docker swarm init failed here: {done.stderr.strip()}")
    yield docker_engine
    if ours:
        run(["docker", "swarm", "leave", "--force"], check=False)
        wait_until(lambda: _swarm_state(docker_engine) == "inactive", 30, "the swarm to be left")
        for network in docker_engine.networks.list(names=["docker_gwbridge"]):
            network.remove()


@pytest.fixture
def make_service(
    swarm: docker.DockerClient,
    busybox_image: str,  # noqa: F811
) -> Iterator[MakeService]:
    """Create busybox services (removed after the test) with a short stop grace period."""
    made: list[Service] = []

    def make(*, mode: ServiceMode | None = None) -> Service:
        service = swarm.services.create(
            busybox_image,
            command=["sleep", "3600"],
            name=f"wtest-{uuid.uuid4().hex[:10]}",
            mode=mode or ServiceMode("replicated", replicas=1),
            stop_grace_period=1_000_000_000,  # 1 s, in nanoseconds
            endpoint_spec=EndpointSpec(mode="vip"),
        )
        made.append(service)
        return service

    yield make
    for service in made:
        service.remove()
    wait_until(lambda: not _task_containers(swarm, made), 60, "the services' containers to go")


@pytest.fixture
def platforms() -> Iterator[list[SwarmPlatform]]:
    """Platforms the test makes, closed after it."""
    made: list[SwarmPlatform] = []
    yield made
    for platform in made:
        platform.close()


def _task_containers(client: docker.DockerClient, services: list[Service]) -> list[str]:
    ids = []
    for service in services:
        label = f"com.docker.swarm.service.id={service.id}"
        ids += [c.id for c in client.containers.list(all=True, filters={"label": label})]
    return ids


def _running_tasks(service: Service) -> int:
    return sum(1 for t in service.tasks() if t["Status"]["State"] == "running")


def test_scales_a_replicated_service(
    make_service: MakeService, platforms: list[SwarmPlatform]
) -> None:
    """1 -> 3 -> 1: the desired replicas follow, and Swarm converges its running tasks to them."""
    service = make_service()
    platforms.append(platform := SwarmPlatform(service=service.name))
    assert isinstance(platform, Platform)
    assert platform.current_workers() == 1
    wait_until(lambda: _running_tasks(service) == 1, 60, "one running task")

    platform.scale_to(3)
    assert platform.current_workers() == 3
    wait_until(lambda: _running_tasks(service) == 3, 60, "three running tasks")

    platform.scale_to(1)
    assert platform.current_workers() == 1
    wait_until(lambda: _running_tasks(service) == 1, 60, "one running task again")


def test_scale_to_zero(make_service: MakeService, platforms: list[SwarmPlatform]) -> None:
    """A replicated service can be scaled to zero tasks and back."""
    service = make_service()
    platforms.append(platform := SwarmPlatform(service=service.name))
    platform.scale_to(0)
    assert platform.current_workers() == 0
    wait_until(lambda: _running_tasks(service) == 0, 60, "no running task")
    platform.scale_to(2)
    assert platform.current_workers() == 2


def test_global_service_is_refused(
    make_service: MakeService, platforms: list[SwarmPlatform]
) -> None:
    """A global service has no replica count: both calls say so."""
    service = make_service(mode=ServiceMode("global"))
    platforms.append(platform := SwarmPlatform(service=service.name))
    for call in (platform.current_workers, lambda: platform.scale_to(2)):
        with pytest.raises(PlatformError, match=r"runs in global mode.*deploy\.mode: replicated"):
            call()


def test_missing_service(swarm: docker.DockerClient, platforms: list[SwarmPlatform]) -> None:
    """An unknown service name is reported with how to list services and the variable to set."""
    platforms.append(platform := SwarmPlatform(service="no-such-warmup-service"))
    with pytest.raises(
        PlatformError, match=r"no Swarm service named .*docker service ls.*"
    ) as info:
        platform.current_workers()
    assert "AUTO_SCALER_SWARM_SERVICE_NAME" in str(info.value)
    assert isinstance(info.value.__cause__, docker.errors.NotFound)


def test_not_a_swarm_manager(
    docker_engine: docker.DockerClient,  # noqa: F811
    platforms: list[SwarmPlatform],
) -> None:
    """An engine outside any swarm gets a message saying to run on a manager node."""
    if _swarm_state(docker_engine) != "inactive":
        pytest.skip("this engine is part of a swarm already; cannot show a non-manager")
    platforms.append(platform := SwarmPlatform(service="warmup-worker"))
    for call in (platform.current_workers, lambda: platform.scale_to(2)):
        with pytest.raises(PlatformError, match=r"not a Swarm manager.*docker node ls") as info:
            call()
        assert isinstance(info.value.__cause__, docker.errors.APIError)


def test_empty_service_name_is_refused() -> None:
    """An empty service name is refused before any call."""
    with pytest.raises(PlatformError, match="SWARM_SERVICE_NAME is empty"):
        SwarmPlatform(service=" ")
