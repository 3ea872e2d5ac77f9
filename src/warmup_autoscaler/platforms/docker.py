"""The docker platform: the replicas of one Docker Compose service on one host.

The count is read from the Docker Engine API by Compose's own labels; scaling runs Compose itself
(`up -d --no-deps --no-recreate --no-build --scale SERVICE=N SERVICE`, without a shell, with a
timeout), so the fleet is exactly what `docker compose ps` shows and a scale-down stops containers
the way Compose does, honouring the service's `stop_grace_period`. Compose v2 (`docker compose`)
and v1 (`docker-compose`) both work.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from docker.errors import NotFound
from pydantic_settings import SettingsConfigDict

from warmup_autoscaler.errors import PlatformError
from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.platforms.base import BasePlatform, PlatformContext, TimeoutSettings
from warmup_autoscaler.platforms.docker_engine import ENGINE_ERRORS, Engine, engine_error
from warmup_autoscaler.platforms.process import run_bounded

__all__ = [
    "COUNTED_STATES",
    "ComposeCommand",
    "DockerComposePlatform",
    "DockerSettings",
    "compose_project_name",
    "find_compose_command",
]

log = get_logger(__name__)


class DockerSettings(TimeoutSettings):
    """AUTO_SCALER_DOCKER_*: the Compose file, project and service the docker platform scales."""

    model_config = SettingsConfigDict(env_prefix="AUTO_SCALER_DOCKER_")

    compose_file: Path = Path("docker-compose.auto-scale.yml")
    project: str | None = None  # default: Compose's own (see DockerComposePlatform)
    service_name: str = "warmup-worker"
    compose_command: str | None = None  # found automatically: `docker compose` or v1


FILE_VAR = DockerSettings.env_name("compose_file")
PROJECT_VAR = DockerSettings.env_name("project")
SERVICE_VAR = DockerSettings.env_name("service_name")
COMMAND_VAR = DockerSettings.env_name("compose_command")
TIMEOUT_VAR = DockerSettings.env_name("platform_command_timeout_ms")
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
# Containers that count as workers: running, or crashed and about to be restarted by their
# restart policy. Exited containers do no work; a scale-up through Compose starts them first.
COUNTED_STATES = ("running", "restarting")
OUTPUT_TAIL_CHARS = 1500


def compose_project_name(name: str) -> str:
    """`name` as Compose normalizes a project name: lower case, only a-z 0-9 _ -, no leading _ -.

    Applied to the compose file's directory name, it is Compose's default project (compose-go's
    rule; Compose v1 keeps a leading _ or -).
    """
    return re.sub(r"[^a-z0-9_-]", "", name.lower()).lstrip("_-")


@dataclass(frozen=True, kw_only=True)
class ComposeCommand:
    """The Compose program: its argv prefix (`docker compose` or `docker-compose`) and version."""

    argv: tuple[str, ...]
    version: str

    @property
    def major(self) -> int:
        match = re.match(r"v?(\d+)", self.version)
        return int(match.group(1)) if match else 0

    def __str__(self) -> str:
        return shlex.join(self.argv)


def find_compose_command(
    configured: str | None, *, env: Mapping[str, str] | None = None, timeout_s: float = 30.0
) -> ComposeCommand:
    """`configured` (split like a shell would) or else `docker compose` (v2), then `docker-compose`.

    Raises PlatformError when the configured command does not run, or neither is installed.
    """
    if configured and configured.strip():
        try:
            argv = tuple(shlex.split(configured))
        except ValueError as exc:
            raise PlatformError(
                f"{COMMAND_VAR}={configured!r} cannot be split into words ({exc})"
            ) from exc
        version, why = _compose_version(argv, env, timeout_s)
        if version is None:
            raise PlatformError(
                f"{COMMAND_VAR}={configured!r} does not run Compose ({why}); set it to "
                "'docker compose' (v2) or 'docker-compose' (v1), or unset it to find one"
            )
        return ComposeCommand(argv=argv, version=version)
    reasons = []
    for argv in (("docker", "compose"), ("docker-compose",)):
        version, why = _compose_version(argv, env, timeout_s)
        if version is not None:
            return ComposeCommand(argv=argv, version=version)
        reasons.append(f"`{shlex.join(argv)}`: {why}")
    raise PlatformError(
        "Docker Compose not found (" + "; ".join(reasons) + "): install the Compose v2 plugin "
        f"or docker-compose, or set {COMMAND_VAR}"
    )


def _compose_version(
    argv: Sequence[str], env: Mapping[str, str] | None, timeout_s: float
) -> tuple[str | None, str]:
    try:
        done = subprocess.run(
            [*argv, "version", "--short"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError:
        return None, "not installed"
    except (OSError, subprocess.SubprocessError) as exc:
        return None, str(exc)
    version = done.stdout.strip().splitlines()[-1].strip() if done.stdout.strip() else ""
    if done.returncode != 0 or not re.match(r"v?\d+\.\d+", version):
        detail = (done.stderr or done.stdout).strip().splitlines()
        return None, detail[-1] if detail else f"exit code {done.returncode}"
    return version, ""


_Stamp = tuple[int, int, int] | None


def _stamp(path: Path) -> _Stamp:
    """What changes when a file is edited or replaced; None when it does not exist."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class DockerComposePlatform(BasePlatform[DockerSettings]):
    """Scales `service` of the Compose project `project` defined by `compose_file`.

    Nothing is contacted before the first call. The project defaults to what Compose itself uses:
    COMPOSE_PROJECT_NAME (environment, then the `.env` beside the compose file), then, inside a
    container started by Compose, that container's own project, then the compose file's directory
    name. Containers are counted when running or restarting (`COUNTED_STATES`); one-off
    containers (`docker compose run`) are not workers.
    """

    name = "docker"
    settings_class = DockerSettings

    def __init__(
        self,
        *,
        compose_file: Path,
        service: str = "warmup-worker",
        project: str | None = None,
        compose_command: str | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        if not service.strip():
            raise PlatformError(f"{SERVICE_VAR} is empty; set it to the Compose service to scale")
        self._file = compose_file.absolute()
        self._service = service
        self._project = None
        if project and project.strip():
            self._project = compose_project_name(project)
            if self._project != project.strip():
                raise PlatformError(
                    f"{PROJECT_VAR}={project!r} is not a Compose project name: use lower-case "
                    f"letters, digits, _ and - (e.g. {self._project or 'warmup'!r})"
                )
        self._configured_command = compose_command
        self._timeout_s = timeout_s
        self._engine = Engine(timeout_s)
        self._command: ComposeCommand | None = None
        self._services: tuple[tuple[_Stamp, _Stamp], tuple[str, ...]] | None = None

    @classmethod
    def from_settings(cls, settings: DockerSettings, context: PlatformContext) -> Self:
        return cls(
            compose_file=settings.compose_file,
            service=settings.service_name,
            project=settings.project,
            compose_command=settings.compose_command,
            timeout_s=settings.timeout_s,
        )

    def close(self) -> None:
        """Close the Engine connection (idempotent); the next call opens a new one."""
        self._engine.close()

    def current_workers(self) -> int:
        with self._engine.lock:
            engine = self._engine.client()
            self._check_service()
            filters = {
                "label": [
                    f"{PROJECT_LABEL}={self._project_name()}",
                    f"{SERVICE_LABEL}={self._service}",
                    f"{ONEOFF_LABEL}=False",
                ],
            }
            try:
                containers = engine.api.containers(all=True, filters=filters)
            except ENGINE_ERRORS as exc:
                raise engine_error(exc, f"list the containers of service {self._service}") from exc
            return sum(1 for c in containers if c.get("State") in COUNTED_STATES)

    def _scale_to(self, workers: int) -> None:
        """Run Compose to scale; returns once Compose has started or removed the containers."""
        with self._engine.lock:
            self._engine.client()  # a clear message when the Engine cannot be reached, before Compose's
            self._check_service()
            svc = self._service
            self._compose(
                "up", "-d", "--no-deps", "--no-recreate", "--no-build",
                "--scale", f"{svc}={workers}", svc,
            )  # fmt: skip

    # Everything below runs with the lock held.

    def _check_file(self) -> None:
        if not self._file.is_file():
            raise PlatformError(
                f"Compose file not found: {self._file} ({FILE_VAR}; a relative path is taken from "
                f"the working directory {Path.cwd()}). In the auto-scaler's container, mount the "
                "directory that holds it"
            )

    def _project_name(self) -> str:
        if self._project is None:
            raw, source = self._default_project()
            self._project = compose_project_name(raw)
            if not self._project:
                raise PlatformError(
                    f"no Compose project name can be made of {raw!r} (from {source}); set "
                    f"{PROJECT_VAR}"
                )
            log.info("compose_project", project=self._project, source=source)
        return self._project

    def _default_project(self) -> tuple[str, str]:
        if name := os.environ.get("COMPOSE_PROJECT_NAME", "").strip():
            return name, "COMPOSE_PROJECT_NAME"
        dotenv = self._file.parent / ".env"
        if dotenv.is_file():
            from dotenv import dotenv_values

            value = dotenv_values(dotenv).get("COMPOSE_PROJECT_NAME") or ""
            if value.strip():
                return value.strip(), f"COMPOSE_PROJECT_NAME in {dotenv}"
        if own := self._own_project():
            return own, "this container's Compose project"
        return self._file.parent.name, f"the directory name of {self._file}"

    def _own_project(self) -> str | None:
        """The Compose project of the container this process runs in, if Compose started it."""
        if not Path("/.dockerenv").exists():
            return None
        try:
            me = self._engine.client().containers.get(socket.gethostname())
        except NotFound:
            return None
        except ENGINE_ERRORS as exc:
            raise engine_error(exc, "inspect the auto-scaler's own container") from exc
        project = me.labels.get(PROJECT_LABEL)
        return str(project) if project else None

    def _compose_command(self) -> ComposeCommand:
        if self._command is None:
            self._command = find_compose_command(
                self._configured_command, timeout_s=min(self._timeout_s, 30.0)
            )
            log.info("compose_command", command=str(self._command), version=self._command.version)
        return self._command

    def _check_service(self) -> None:
        """Fail with a clear message when the file is missing or has no such service (cached)."""
        self._check_file()
        key = (_stamp(self._file), _stamp(self._file.parent / ".env"))
        if self._services is None or self._services[0] != key:
            out = self._compose("config", "--services")
            self._services = (key, tuple(line.strip() for line in out.splitlines() if line.strip()))
        if self._service not in self._services[1]:
            raise PlatformError(
                f"service {self._service!r} is not in {self._file} (services: "
                f"{', '.join(self._services[1]) or 'none'}); set {SERVICE_VAR}"
            )

    def _compose(self, *args: str) -> str:
        command = self._compose_command()
        argv = [*command.argv, "-f", str(self._file), "-p", self._project_name(), *args]
        shown = shlex.join([*command.argv, *args])
        try:
            code, out, err = run_bounded(argv, timeout_s=self._timeout_s)
        except OSError as exc:
            raise PlatformError(f"cannot run `{shown}`: {exc.strerror or exc}") from exc
        except subprocess.TimeoutExpired as exc:
            raise PlatformError(
                f"`{shown}` did not finish within {self._timeout_s:g} s ({TIMEOUT_VAR}); "
                f"containers may still be starting or stopping: check `{command} -f {self._file} "
                "ps`"
            ) from exc
        if code != 0:
            detail = (err.strip() or out.strip())[-OUTPUT_TAIL_CHARS:]
            raise PlatformError(f"`{shown}` failed with exit code {code}: {detail}")
        return out
