"""The whole docker-compose.auto-scale.yml stack, brought up for real with the seed's commands.

The images are built here without any registry (scripts/build-images.sh): the auto-scaler and
worker images, and PostgreSQL 15 from Debian's package standing in for postgres:15
(POSTGRES_IMAGE). The stack runs in its own project folder with a `.env`, as a user's would;
mailboxes are added inside the auto-scaler's container, and the auto-scaler scales
`warmup-worker` through Compose, seen both in its status API and in `docker-compose ps`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from tests.docker_support import (  # noqa: F401 (fixtures)
    REPO,
    AppImages,
    app_images,
    docker_engine,
    run,
    unavailable,
    wait_until,
)

pytestmark = pytest.mark.docker

FILE = "docker-compose.auto-scale.yml"
SCALE_TIMEOUT_S = 180


@dataclass
class Stack:
    """One project folder holding the compose file and its .env; commands run from it."""

    folder: Path
    port: int
    client: docker.DockerClient
    images: AppImages

    @property
    def project(self) -> str:
        return self.folder.name

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`docker-compose -f docker-compose.auto-scale.yml ARGS`, as the seed writes it."""
        return run(["docker-compose", "-f", FILE, *args], cwd=self.folder, check=check, timeout=300)

    def status(self) -> dict[str, Any] | None:
        try:
            response = httpx.get(f"http://127.0.0.1:{self.port}/api/auto-scaler/status", timeout=5)
        except httpx.HTTPError:
            return None
        return dict(response.json()) if response.status_code == 200 else None

    def running_workers(self) -> int:
        """Running warmup-worker containers among those `docker-compose ps -q` lists."""
        ids = self.compose("ps", "-q", "warmup-worker").stdout.split()
        return sum(1 for i in ids if self.client.containers.get(i).status == "running")

    def images_of(self, service: str) -> set[str]:
        """The images the service's containers were created from."""
        ids = self.compose("ps", "-q", service).stdout.split()
        return {str(self.client.containers.get(i).attrs["Config"]["Image"]) for i in ids}

    def health(self, service: str) -> str:
        ids = self.compose("ps", "-q", service).stdout.split()
        if not ids:
            return "absent"
        state = self.client.containers.get(ids[0]).attrs["State"]
        return str(state.get("Health", {}).get("Status", state["Status"]))

    def logs(self) -> str:
        done = self.compose("logs", "--no-color", "--tail", "60", check=False)
        return done.stdout[-6000:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def stack(
    tmp_path: Path,
    app_images: AppImages,  # noqa: F811
    docker_engine: docker.DockerClient,  # noqa: F811
) -> Iterator[Stack]:
    """A project folder with the repository's compose file and a fast-scaling .env; torn down."""
    if shutil.which("docker-compose") is None:
        unavailable("docker-compose is not installed: run scripts/docker-setup.sh")
    folder = tmp_path / f"warmupe2e{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    shutil.copy(REPO / FILE, folder / FILE)
    port = _free_port()
    (folder / ".env").write_text(
        "\n".join(
            [
                f"POSTGRES_IMAGE={app_images.postgres}",
                f"WARMUP_IMAGE={app_images.app}",
                f"WARMUP_WORKER_IMAGE={app_images.worker}",
                f"AUTO_SCALER_PUBLISH=127.0.0.1:{port}",
                "AUTO_SCALER_PLATFORM=docker",
                "AUTO_SCALER_CHECK_INTERVAL_MS=1000",
                "AUTO_SCALER_MAILBOXES_PER_WORKER=10",
                "AUTO_SCALER_MIN_WORKERS=1",
                "AUTO_SCALER_MAX_WORKERS=3",
                "AUTO_SCALER_SCALE_UP_COOLDOWN_MS=0",
                "AUTO_SCALER_SCALE_DOWN_COOLDOWN_MS=0",
                "AUTO_SCALER_ADMIN_TOKEN=e2e-admin-token-0123",
                "AUTO_SCALER_WORKER_HEARTBEAT_MS=1000",
                "AUTO_SCALER_WORKER_LEASE_TTL_MS=5000",
                "AUTO_SCALER_WORKER_DRAIN_TIMEOUT_MS=5000",
                "WORKER_STOP_GRACE_PERIOD=15s",
                "AUTO_SCALER_LOG_FORMAT=json",
                "",
            ]
        )
    )
    stack = Stack(folder, port, docker_engine, app_images)
    try:
        yield stack
    finally:
        stack.compose("down", "-v", "--remove-orphans", "-t", "5", check=False)
        label = f"com.docker.compose.project={stack.project}"
        for container in docker_engine.containers.list(all=True, filters={"label": label}):
            container.remove(force=True)
        for network in docker_engine.networks.list(filters={"label": label}):
            network.remove()
        for volume in docker_engine.volumes.list(filters={"label": label}):
            volume.remove(force=True)


def test_stack_scales_workers_with_mailboxes(stack: Stack) -> None:
    """`up -d`, add mailboxes: the auto-scaler scales warmup-worker 1 -> 3 -> 1 through Compose."""
    stack.compose("up", "-d")
    try:
        status = wait_until(stack.status, 120, "the auto-scaler's status API")
        assert status["config"]["platform"] == "docker"
        assert stack.running_workers() == 1, "Compose starts one worker"

        stack.compose("exec", "-T", "auto-scaler", "warmup-autoscaler", "db", "init", "--demo")
        stack.compose(
            "exec", "-T", "auto-scaler", "warmup-autoscaler", "db", "seed", "--mailboxes", "25"
        )
        # 25 mailboxes at 10 per worker: one step per check up to the maximum, 3 (83%).
        wait_until(
            lambda: (s := stack.status()) and s["currentWorkers"] == 3 and s["mailboxCount"] == 25,
            SCALE_TIMEOUT_S,
            "the auto-scaler to reach 3 workers",
        )
        wait_until(lambda: stack.running_workers() == 3, 60, "3 running worker containers")
        assert stack.images_of("warmup-worker") == {stack.images.worker}
        assert stack.images_of("auto-scaler") == {stack.images.app}
        assert stack.status()["lastError"] is None  # type: ignore[index]

        stack.compose(
            "exec", "-T", "db", "psql", "-q", "-U", "warmup", "-d", "warmup",
            "-c", "UPDATE mailboxes SET status = 'inactive'",
        )  # fmt: skip
        wait_until(
            lambda: (s := stack.status()) and s["currentWorkers"] == 1 and s["mailboxCount"] == 0,
            SCALE_TIMEOUT_S,
            "the auto-scaler to scale back to 1 worker",
        )
        assert stack.running_workers() == 1

        logs = stack.compose("logs", "--no-color", "auto-scaler").stdout
        assert "scale-up" in logs and "scale-down" in logs
        wait_until(lambda: stack.health("auto-scaler") == "healthy", 60, "a healthy auto-scaler")
        assert stack.health("db") == "healthy"
        # The worker's healthcheck (`worker-alive` on its heartbeat file) passes, and the worker
        # has the .env the auto-scaler reads, but not its admin token.
        wait_until(lambda: stack.health("warmup-worker") == "healthy", 90, "a healthy worker")
        [worker_id] = stack.compose("ps", "-q", "warmup-worker").stdout.split()
        env = stack.client.containers.get(worker_id).attrs["Config"]["Env"]
        assert "AUTO_SCALER_ADMIN_TOKEN=" in env and "AUTO_SCALER_MAX_WORKERS=3" in env
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- docker-compose logs ---\n{stack.logs()}") from exc
