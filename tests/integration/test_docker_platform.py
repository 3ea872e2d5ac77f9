"""The docker platform against a real Docker Engine, with Compose v1 (docker-compose) and v2.

Each test gets its own Compose project in tmp_path. Its `worker` service is busybox `sh` trapping
SIGTERM: it writes its hostname to a mounted folder when it starts and when it is stopped
gracefully, so a scale-down is seen to stop workers with SIGTERM rather than kill them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container

from tests.docker_support import (  # noqa: F401 (fixtures)
    busybox_image,
    compose_v2_config,
    docker_engine,
    run,
    unavailable,
)
from warmup_autoscaler.errors import PlatformError
from warmup_autoscaler.platforms.base import Platform
from warmup_autoscaler.platforms.docker import (
    DockerComposePlatform,
    compose_project_name,
    find_compose_command,
)

pytestmark = pytest.mark.docker

GRACE_S = 10
WORKER = [
    "trap 'echo \"$$HOSTNAME\" >> /marks/stopped; exit 0' TERM",
    'echo "$$HOSTNAME" >> /marks/started',
    "while true; do sleep 3600 & wait $$!; done",
]


def compose_yaml(image: str, *, worker_extra: list[str] | None = None) -> str:
    """A project with the trapping `worker` service and an unrelated `other` service."""
    lines = [
        'version: "3.8"',
        "services:",
        "  worker:",
        f"    image: {image}",
        "    command:",
        "      - sh",
        "      - -c",
        "      - |",
        *[f"        {line}" for line in WORKER],
        f"    stop_grace_period: {GRACE_S}s",
        "    volumes:",
        "      - ./marks:/marks",
        *(worker_extra or []),
        "  other:",
        f"    image: {image}",
        '    command: ["sleep", "3600"]',
        "    init: true",
        "    stop_grace_period: 1s",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class Variant:
    """One Compose implementation: how to call it and the environment it needs."""

    name: str
    command: str
    env: dict[str, str]


@dataclass
class Project:
    """A Compose project of the test, driven with the variant's own CLI."""

    dir: Path
    name: str
    variant: Variant
    client: docker.DockerClient
    explicit_name: bool = True
    platforms: list[DockerComposePlatform] = field(default_factory=list)

    @property
    def file(self) -> Path:
        return self.dir / "docker-compose.yml"

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [*self.variant.command.split(), "-f", str(self.file)]
        if self.explicit_name:
            argv += ["-p", self.name]
        return run([*argv, *args], env=self.variant.env, cwd=self.dir, check=check, timeout=180)

    def running(self, service: str = "worker") -> list[str]:
        """Ids of the service's running containers that `compose ps -q` lists (not `run` ones)."""
        ids = self.compose("ps", "-q", service).stdout.split()
        containers = [self.client.containers.get(i) for i in ids]
        return [
            str(c.id)
            for c in containers
            if c.status == "running" and c.labels.get("com.docker.compose.oneoff") == "False"
        ]

    def marks(self, kind: str) -> list[str]:
        path = self.dir / "marks" / kind
        return path.read_text().split() if path.exists() else []

    def platform(self, **kwargs: object) -> DockerComposePlatform:
        options: dict[str, object] = {
            "compose_file": self.file,
            "service": "worker",
            "project": self.name if self.explicit_name else None,
            "compose_command": self.variant.command,
            "timeout_s": 120.0,
        }
        options.update(kwargs)
        platform = DockerComposePlatform(**options)  # type: ignore[arg-type]
        self.platforms.append(platform)
        return platform

    def remove(self) -> None:
        for platform in self.platforms:
            platform.close()
        self.compose("down", "-v", "--remove-orphans", "-t", "0", check=False)
        label = f"com.docker.compose.project={self.name}"
        for container in self.client.containers.list(all=True, filters={"label": label}):
            container.remove(force=True)
        for network in self.client.networks.list(filters={"label": label}):
            network.remove()


MakeProject = Callable[..., Project]


@pytest.fixture(params=["v1", "v2"])
def variant(
    request: pytest.FixtureRequest,
    docker_engine: docker.DockerClient,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> Variant:
    """Compose v1 (Debian's docker-compose) or v2 (`docker compose`, the CLI plugin)."""
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    if request.param == "v1":
        if shutil.which("docker-compose") is None:
            unavailable("docker-compose (Compose v1) is not installed: run scripts/docker-setup.sh")
        return Variant("v1", "docker-compose", dict(os.environ))
    config: Path = request.getfixturevalue("compose_v2_config")
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    return Variant("v2", "docker compose", dict(os.environ))


@pytest.fixture
def make_project(
    tmp_path: Path,
    variant: Variant,
    busybox_image: str,  # noqa: F811
    docker_engine: docker.DockerClient,  # noqa: F811
) -> Iterator[MakeProject]:
    """Create a project folder (named like its project unless `dirname` is given), cleaned up."""
    projects: list[Project] = []

    def make(*, dirname: str | None = None, explicit_name: bool = True, **yaml: object) -> Project:
        name = f"wtest{uuid.uuid4().hex[:10]}"
        folder = tmp_path / (dirname or name)
        (folder / "marks").mkdir(parents=True)
        project = Project(folder, name, variant, docker_engine, explicit_name)
        project.file.write_text(compose_yaml(busybox_image, **yaml))  # type: ignore[arg-type]
        if not explicit_name:
            project.name = compose_project_name(folder.name)
        projects.append(project)
        return project

    yield make
    for project in projects:
        project.remove()


def test_scales_up_and_down_through_compose(make_project: MakeProject) -> None:
    """1 -> 3 -> 1: Compose and the platform agree, and scale-down stops workers with SIGTERM."""
    project: Project = make_project()
    project.compose("up", "-d")
    platform = project.platform()
    assert isinstance(platform, Platform)
    assert platform.current_workers() == 1

    platform.scale_to(3)
    assert platform.current_workers() == 3
    assert len(project.running()) == 3
    assert len(project.running("other")) == 1

    before = {c.id: c.attrs["Config"]["Hostname"] for c in _containers(project)}
    started = time.monotonic()
    platform.scale_to(1)
    took = time.monotonic() - started
    assert platform.current_workers() == 1
    remaining = project.running()
    assert len(remaining) == 1
    gone = {host for cid, host in before.items() if cid not in remaining}
    assert len(gone) == 2
    assert set(project.marks("stopped")) == gone, "each removed worker trapped SIGTERM"
    assert took < GRACE_S, f"scale-down took {took:.1f} s: workers were killed, not stopped"
    assert len(project.running("other")) == 1, "other services are left alone"


def test_scale_to_zero_and_back(make_project: MakeProject) -> None:
    """Scaling to 0 removes every worker; scaling to 2 starts them again."""
    project: Project = make_project()
    project.compose("up", "-d")
    platform = project.platform()
    platform.scale_to(0)
    assert platform.current_workers() == 0
    assert project.running() == []
    platform.scale_to(2)
    assert platform.current_workers() == 2
    assert len(project.running()) == 2


def test_default_project_is_the_one_compose_derives(make_project: MakeProject) -> None:
    """Without a project, the platform finds what Compose made of the directory name."""
    suffix = uuid.uuid4().hex[:8]
    project: Project = make_project(dirname=f"Warm.Up_{suffix}", explicit_name=False)
    project.compose("up", "-d")
    labels = _containers(project)[0].labels
    assert labels["com.docker.compose.project"] == f"warmup_{suffix}" == project.name
    platform = project.platform(project=None)
    assert platform.current_workers() == 1
    platform.scale_to(2)
    assert len(project.running()) == 2


def test_project_from_env_file(make_project: MakeProject) -> None:
    """COMPOSE_PROJECT_NAME in the .env beside the compose file is honoured, as Compose does."""
    project: Project = make_project(explicit_name=False)
    project.name = f"fromenv{uuid.uuid4().hex[:8]}"
    (project.dir / ".env").write_text(f"COMPOSE_PROJECT_NAME={project.name}\n")
    project.compose("up", "-d")
    assert _containers(project), "compose used the .env project name"
    platform = project.platform(project=None)
    assert platform.current_workers() == 1


def test_exited_and_one_off_containers_are_not_counted(make_project: MakeProject) -> None:
    """Stopped workers and `compose run` containers are not counted; scale-up restarts the first."""
    project: Project = make_project()
    project.compose("up", "-d", "--scale", "worker=2")
    platform = project.platform()
    assert platform.current_workers() == 2
    _containers(project)[0].stop(timeout=GRACE_S)
    assert platform.current_workers() == 1
    project.compose("run", "-d", "worker")
    assert platform.current_workers() == 1
    platform.scale_to(2)
    assert platform.current_workers() == 2
    assert len(project.running()) == 2


def test_compose_failure_is_a_platform_error(make_project: MakeProject) -> None:
    """A Compose command that fails (a second worker cannot bind the same port) says why."""
    port = _free_port()
    project: Project = make_project(worker_extra=["    ports:", f'      - "127.0.0.1:{port}:80"'])
    project.compose("up", "-d")
    platform = project.platform()
    with pytest.raises(PlatformError, match=r"failed with exit code \d+: .*") as info:
        platform.scale_to(2)
    assert "--scale worker=2" in str(info.value)


def test_compose_timeout_is_a_platform_error(
    make_project: MakeProject,
    busybox_image: str,  # noqa: F811
) -> None:
    """A scale-down outlasting the timeout (a worker ignoring SIGTERM) is stopped and reported."""
    project: Project = make_project()
    project.file.write_text(
        f'version: "3.8"\nservices:\n  worker:\n    image: {busybox_image}\n'
        '    command: ["sleep", "3600"]\n    stop_grace_period: 30s\n'
    )
    project.compose("up", "-d")
    platform = project.platform(timeout_s=3.0)
    started = time.monotonic()
    with pytest.raises(PlatformError, match=r"did not finish within 3 s .*TIMEOUT_MS.* ps"):
        platform.scale_to(0)
    assert time.monotonic() - started < 20


def test_unknown_service(make_project: MakeProject) -> None:
    """A service missing from the compose file is named, with the services that exist."""
    project: Project = make_project()
    platform = project.platform(service="warmup-worker")
    listed = r"services: (worker, other|other, worker)"
    with pytest.raises(PlatformError, match=rf"service 'warmup-worker' is not in .*{listed}"):
        platform.current_workers()
    with pytest.raises(PlatformError, match="DOCKER_SERVICE_NAME"):
        platform.scale_to(1)


@pytest.fixture
def new_platform() -> Iterator[Callable[..., DockerComposePlatform]]:
    """Make platforms outside a project; each is closed after the test."""
    made: list[DockerComposePlatform] = []

    def make(**options: object) -> DockerComposePlatform:
        made.append(DockerComposePlatform(**options))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for platform in made:
        platform.close()


def test_missing_compose_file(
    tmp_path: Path,
    new_platform: Callable[..., DockerComposePlatform],
    docker_engine: docker.DockerClient,  # noqa: F811
) -> None:
    """A compose file that does not exist is named with the variable that sets it."""
    platform = new_platform(compose_file=tmp_path / "nope.yml", project="x")
    for call in (platform.current_workers, lambda: platform.scale_to(1)):
        with pytest.raises(
            PlatformError, match=r"Compose file not found: .*nope\.yml .*COMPOSE_FILE"
        ):
            call()


def test_no_docker_socket(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    new_platform: Callable[..., DockerComposePlatform],
) -> None:
    """No Engine socket: the error names the socket and what to check, chained to the cause."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/missing/docker.sock")
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    platform = new_platform(compose_file=tmp_path / "docker-compose.yml", project="x")
    for call in (platform.current_workers, lambda: platform.scale_to(1)):
        with pytest.raises(PlatformError) as info:
            call()
        message = str(info.value)
        assert f"no Docker Engine socket at unix://{tmp_path}/missing/docker.sock" in message
        assert "docker ps" in message and "ls -la /var/run/docker.sock" in message
        assert "grep AUTO_SCALER_PLATFORM .env" in message
        assert isinstance(info.value.__cause__, FileNotFoundError)


def test_socket_permission_denied(
    docker_engine: docker.DockerClient,  # noqa: F811
) -> None:
    """A user outside the socket's group gets a permission message, not a traceback."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the check as the unprivileged user nobody")
    folder = Path(tempfile.mkdtemp(prefix="warmup-perm-"))
    try:
        folder.chmod(0o755)
        (folder / "docker-compose.yml").write_text("services: {}\n")
        code = (
            "from pathlib import Path\n"
            "from warmup_autoscaler.platforms.docker import DockerComposePlatform\n"
            "from warmup_autoscaler.errors import PlatformError\n"
            f"p = DockerComposePlatform(compose_file=Path({str(folder)!r}) / 'docker-compose.yml',"
            " project='x')\n"
            "try:\n    p.current_workers()\nexcept PlatformError as e:\n    print(e)\n"
            "p.close()\n"
        )
        done = run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             sys.executable, "-c", code],
            env={**os.environ, "DOCKER_HOST": "unix:///var/run/docker.sock"},
        )  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert (
        "permission denied on the Docker Engine socket unix:///var/run/docker.sock" in done.stdout
    )
    assert "ls -la /var/run/docker.sock" in done.stdout


def test_negative_count_is_refused(tmp_path: Path) -> None:
    """A negative worker count never reaches Compose."""
    platform = DockerComposePlatform(compose_file=tmp_path / "x.yml", project="x")
    with pytest.raises(PlatformError, match="0 or more"):
        platform.scale_to(-1)


def test_invalid_project_name_is_refused(tmp_path: Path) -> None:
    """A project name Compose would reject or rewrite is refused with a valid suggestion."""
    with pytest.raises(PlatformError, match=r"DOCKER_PROJECT='My Project'.*'myproject'"):
        DockerComposePlatform(compose_file=tmp_path / "x.yml", project="My Project")


def test_compose_command_found_automatically(
    tmp_path: Path,
    compose_v2_config: Path,  # noqa: F811
) -> None:
    """`docker compose` (v2) is preferred; without the plugin, `docker-compose` (v1) is used."""
    env = dict(os.environ)
    v2 = find_compose_command(None, env={**env, "DOCKER_CONFIG": str(compose_v2_config)})
    assert (v2.argv, v2.major) == (("docker", "compose"), 2)
    if shutil.which("docker-compose") is None:
        unavailable("docker-compose (Compose v1) is not installed: run scripts/docker-setup.sh")
    v1 = find_compose_command(None, env={**env, "DOCKER_CONFIG": str(tmp_path)})
    assert (v1.argv, v1.major) == (("docker-compose",), 1)


def test_configured_compose_command_that_does_not_run(tmp_path: Path) -> None:
    """A configured command that is not Compose is refused with the variable's name."""
    with pytest.raises(
        PlatformError, match=r"DOCKER_COMPOSE_COMMAND='no-such-compose' .*not installed"
    ):
        find_compose_command("no-such-compose")


def _containers(project: Project) -> list[Container]:
    label = [f"com.docker.compose.project={project.name}", "com.docker.compose.service=worker"]
    return list(project.client.containers.list(filters={"label": label}))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
