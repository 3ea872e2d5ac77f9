"""The two images the Dockerfile makes, as scripts/build-images.sh builds them without a registry.

Sizes come from the Engine API (what `docker images` shows, in MB of 10^6 bytes). What each image
can import is asked of Python inside it. The rebuild test copies the build inputs, changes one line
under src/, builds again with other tags and compares the layers with the first build's: every
dependency layer must be the very same (same content digest, so nothing is rebuilt, stored or
pulled again), and only the package's own layer differs.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.docker_support import (  # noqa: F401 (fixtures)
    BUILD_TIMEOUT_S,
    AppImages,
    app_images,
    copy_build_inputs,
    docker_engine,
    run,
)

pytestmark = pytest.mark.docker

MB = 1_000_000
WORKER_MAX_MB = 200
AUTO_SCALER_MAX_MB = 300
SOURCE_LAYER_MAX_MB = 5
REBUILT = AppImages(
    app="warmup-test-rebuilt:latest",
    worker="warmup-test-rebuilt-worker:latest",
    postgres="(not built)",
)

# Run inside an image: what imports, and whether docker-compose runs.
PROBE = """
import importlib, json, shutil, subprocess
found = {}
for name in ("warmup_autoscaler.worker", "kubernetes.client", "docker",
             "warmup_autoscaler.platforms.kubernetes", "warmup_autoscaler.platforms.docker",
             "warmup_autoscaler.platforms.swarm"):
    try:
        importlib.import_module(name)
        found[name] = "ok"
    except ImportError as exc:
        found[name] = f"{type(exc).__name__}: {exc}"
compose = shutil.which("docker-compose")
found["docker-compose"] = compose and subprocess.run(
    [compose, "version", "--short"], capture_output=True, text=True).stdout.strip()
print(json.dumps(found))
"""


def probe(client: docker.DockerClient, image: str) -> dict[str, Any]:
    """What PROBE finds in `image`, run as the image's own (non-root) user."""
    out = client.containers.run(image, ["-c", PROBE], entrypoint="python3", remove=True)
    result: dict[str, Any] = json.loads(out)
    return result


def size_mb(client: docker.DockerClient, image: str) -> float:
    return float(client.images.get(image).attrs["Size"]) / MB


@pytest.mark.parametrize(
    ("role", "limit_mb"),
    [("worker", WORKER_MAX_MB), ("app", AUTO_SCALER_MAX_MB)],
    ids=["worker", "auto-scaler"],
)
def test_image_size_is_within_its_goal(
    role: str,
    limit_mb: int,
    app_images: AppImages,  # noqa: F811
    docker_engine: docker.DockerClient,  # noqa: F811
) -> None:
    """The worker image is at most 200 MB, the auto-scaler image at most 300 MB."""
    image = getattr(app_images, role)
    size = size_mb(docker_engine, image)
    assert size <= limit_mb, f"{image} is {size:.1f} MB, over {limit_mb} MB"


NOT_FOUND = "ModuleNotFoundError: No module named"


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (
            "worker",
            {
                "warmup_autoscaler.worker": "ok",
                "kubernetes.client": f"{NOT_FOUND} 'kubernetes'",
                "docker": f"{NOT_FOUND} 'docker'",
                "docker-compose": None,
            },
        ),
        (
            "app",
            {
                "warmup_autoscaler.worker": "ok",
                "kubernetes.client": "ok",
                "docker": "ok",
                "warmup_autoscaler.platforms.kubernetes": "ok",
                "warmup_autoscaler.platforms.docker": "ok",
                "warmup_autoscaler.platforms.swarm": "ok",
                "docker-compose": "1.29.2",
            },
        ),
    ],
    ids=["worker", "auto-scaler"],
)
def test_image_carries_only_what_its_role_runs(
    role: str,
    expected: dict[str, str | None],
    app_images: AppImages,  # noqa: F811
    docker_engine: docker.DockerClient,  # noqa: F811
) -> None:
    """The worker has no kubernetes client, Docker SDK or docker-compose; the auto-scaler all."""
    found = probe(docker_engine, getattr(app_images, role))
    assert {key: found[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("role", "command", "healthcheck"),
    [("worker", ["worker"], False), ("app", ["run"], True)],
    ids=["worker", "auto-scaler"],
)
def test_image_runs_its_command_as_warmup_user(
    role: str,
    command: list[str],
    healthcheck: bool,
    app_images: AppImages,  # noqa: F811
    docker_engine: docker.DockerClient,  # noqa: F811
) -> None:
    """Both run as `warmup`; only the auto-scaler has the HTTP HEALTHCHECK on /healthz."""
    config = docker_engine.images.get(getattr(app_images, role)).attrs["Config"]
    assert config["User"] == "warmup"
    assert config["Entrypoint"] == ["warmup-autoscaler"]
    assert config["Cmd"] == command
    check = config.get("Healthcheck") or {}
    assert ("/healthz" in " ".join(check.get("Test", []))) is healthcheck


@pytest.fixture
def rebuilt(
    tmp_path: Path,
    app_images: AppImages,  # noqa: F811
    docker_engine: docker.DockerClient,  # noqa: F811
) -> Iterator[AppImages]:
    """Both images rebuilt from a copy of the build inputs with one line added under src/."""
    tree = tmp_path / "tree"
    copy_build_inputs(tree)
    changed = tree / "src" / "warmup_autoscaler" / "policy.py"
    changed.write_text(changed.read_text() + "# a one-line change\n")
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "APP_IMAGE": REBUILT.app,
        "WORKER_IMAGE": REBUILT.worker,
        "SKIP_POSTGRES_IMAGE": "1",
    }
    try:
        run(["bash", str(tree / "scripts" / "build-images.sh")], env=env, timeout=BUILD_TIMEOUT_S)
        yield REBUILT
    finally:
        repo = REBUILT.app.rsplit(":", 1)[0]
        for tag in (REBUILT.app, REBUILT.worker, f"{repo}:cache-deps", f"{repo}:cache-app"):
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_engine.images.remove(tag)


def layers(client: docker.DockerClient, image: str) -> list[tuple[str, int, str]]:
    """(content digest, size, step) of each filesystem layer, bottom first.

    Steps of 0 B (ENV, LABEL, a RUN that writes nothing) leave no layer, so the steps with a size
    pair off with the image's layers.
    """
    digests = client.images.get(image).attrs["RootFS"]["Layers"]
    steps = [h for h in reversed(client.api.history(image)) if h["Size"] > 0]
    assert len(steps) == len(digests), f"{image}: {len(steps)} steps for {len(digests)} layers"
    return [
        (digest, int(step["Size"]), str(step["CreatedBy"]))
        for digest, step in zip(digests, steps, strict=True)
    ]


@pytest.mark.parametrize("role", ["worker", "app"], ids=["worker", "auto-scaler"])
def test_source_only_change_rebuilds_only_the_source_layer(
    role: str,
    app_images: AppImages,  # noqa: F811
    rebuilt: AppImages,
    docker_engine: docker.DockerClient,  # noqa: F811
) -> None:
    """After a one-line change under src/, every dependency layer is reused; one small layer is new."""
    before = layers(docker_engine, getattr(app_images, role))
    after = layers(docker_engine, getattr(rebuilt, role))
    assert len(after) == len(before)
    changed = [i for i, (old, new) in enumerate(zip(before, after, strict=True)) if old != new]
    assert changed == [len(after) - 1], f"rebuilt: {[after[i][2][:90] for i in changed]}"
    _, size, step = after[-1]
    assert "/opt/venv" in step, f"the top layer is not the package's: {step[:120]}"
    assert size <= SOURCE_LAYER_MAX_MB * MB, f"the source layer is {size / MB:.2f} MB"


@pytest.mark.parametrize(
    ("platform", "extra"), [("kubernetes", "kubernetes"), ("docker", "docker"), ("swarm", "docker")]
)
def test_worker_image_names_the_extra_a_platform_needs(
    platform: str,
    extra: str,
    app_images: AppImages,  # noqa: F811
    docker_engine: docker.DockerClient,  # noqa: F811
) -> None:
    """The daemon started from the worker image on a platform it lacks says which extra to install."""
    container = docker_engine.containers.run(
        app_images.worker,
        ["run"],
        environment={"AUTO_SCALER_PLATFORM": platform, "AUTO_SCALER_LOG_FORMAT": "json"},
        detach=True,
    )
    try:
        exit_code = container.wait(timeout=120)["StatusCode"]
        stderr = container.logs(stdout=False, stderr=True).decode()
    finally:
        container.remove(force=True)
    assert exit_code == 2, stderr
    [line] = stderr.strip().splitlines()
    assert line.startswith(
        f"config error: AUTO_SCALER_PLATFORM={platform}: needs the {extra} extra, which is not "
        "installed (no module "
    )
    assert line.endswith(f": pip install 'warmup-autoscaler[{extra}]'")
