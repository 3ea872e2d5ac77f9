"""What the docker (Compose) and swarm platforms share: one Docker Engine connection, and the
wrapping of the Docker SDK's errors into a PlatformError that says what to check."""

from __future__ import annotations

import os
import threading

import docker
import requests
from docker.errors import DockerException

from warmup_autoscaler.errors import PlatformError

__all__ = ["DEFAULT_SOCKET", "ENGINE_ERRORS", "Engine", "engine_client", "engine_error"]

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
# What the SDK raises when the Engine cannot be reached or answers with an error.
ENGINE_ERRORS = (DockerException, requests.RequestException, OSError)


def engine_error(exc: BaseException, doing: str) -> PlatformError:
    """A PlatformError for a Docker SDK failure that says what to check (the seed's checklist)."""
    host = os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    text = f"{exc!r} {exc}"
    if "No such file or directory" in text or "FileNotFoundError" in text:
        return PlatformError(
            f"cannot {doing}: no Docker Engine socket at {host}. Is Docker running (`docker ps`)? "
            "In a container, mount the socket (-v /var/run/docker.sock:/var/run/docker.sock) and "
            "check `ls -la /var/run/docker.sock`; if the workers do not run in Docker, choose "
            "another platform (`grep AUTO_SCALER_PLATFORM .env`)"
        )
    if "Permission denied" in text or "PermissionError" in text:
        return PlatformError(
            f"cannot {doing}: permission denied on the Docker Engine socket {host}. Run the "
            "auto-scaler as root or as a member of the socket's group (`ls -la "
            "/var/run/docker.sock`; `docker ps` must work for that user)"
        )
    if "Connection refused" in text or "ConnectionRefusedError" in text:
        return PlatformError(
            f"cannot {doing}: the Docker Engine at {host} refused the connection. Is Docker "
            "running (`docker ps`)? Check DOCKER_HOST"
        )
    return PlatformError(f"cannot {doing}: Docker Engine error: {exc}")


def engine_client(timeout_s: float) -> docker.DockerClient:
    """A client for the Engine DOCKER_HOST names (default: the local socket), version checked."""
    host = os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    if host.startswith("unix://"):
        try:  # before the SDK, whose failed connect leaves its socket unclosed
            os.stat(host.removeprefix("unix://"))
        except OSError as exc:
            raise engine_error(exc, "connect to the Docker Engine") from exc
    try:
        return docker.from_env(timeout=max(1, round(timeout_s)))
    except ENGINE_ERRORS as exc:
        raise engine_error(exc, "connect to the Docker Engine") from exc


class Engine:
    """One lazily opened Engine connection and the lock that serializes a platform's calls.

    Nothing is contacted before the first `client()`; `close()` drops the connection and the
    next call opens a new one.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.lock = threading.Lock()
        self._client: docker.DockerClient | None = None

    def client(self) -> docker.DockerClient:
        """The connection (call with `lock` held)."""
        if self._client is None:
            self._client = engine_client(self.timeout_s)
        return self._client

    def close(self) -> None:
        with self.lock:
            if self._client is not None:
                self._client.close()
                self._client = None
