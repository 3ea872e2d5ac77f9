"""Image builds: a rebuild after a one-line change under src/, against a full build of both images.

Both run the script users run, `scripts/build-images.sh` (worker and auto-scaler images, no
PostgreSQL image), from a copy of the build inputs. Each round first makes a base image of its own
(the real base plus a label holding a nonce: the same files, a new image id), so that its first
build shares no layer with any earlier one: the **full build** (apt-get, every pip install). Then
one line is added to `src/warmup_autoscaler/policy.py` and the script runs again: the
**source-only rebuild**. Both include the host's `pip download` into the wheelhouse (from pip's
cache after the first round). Reported: the medians of both times and their ratio, the two image
sizes, and the size of the layer the rebuild adds to each image. The images, tags and bases it
makes are removed afterwards.

Needs a Docker Engine and the base image (scripts/docker-setup.sh, scripts/build-base-image.sh);
skipped (nothing measured) without them.

Sizes: `BENCH_IMAGES_ROUNDS` (default 3, `--quick` 1); `BENCH_IMAGES_BASE` (default
warmup-python-base:bookworm).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.docker_support import copy_build_inputs

__all__ = ["run"]

APP = "warmup-bench-autoscaler:latest"
WORKER = "warmup-bench-worker:latest"
BUILD_TIMEOUT_S = 1800
MB = 1_000_000


def docker(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["docker", *args], input=stdin, capture_output=True, text=True, check=False, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.strip()[-1000:]}")
    return done.stdout.strip()


def build(tree: Path, base: str) -> float:
    """Seconds `scripts/build-images.sh` takes to build both images on `base`."""
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "BASE_IMAGE": base,
        "APP_IMAGE": APP,
        "WORKER_IMAGE": WORKER,
        "SKIP_POSTGRES_IMAGE": "1",
    }
    started = time.perf_counter()
    done = subprocess.run(
        ["bash", str(tree / "scripts" / "build-images.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=BUILD_TIMEOUT_S,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"build-images.sh failed: {done.stderr.strip()[-2000:]}")
    return elapsed


def size_mb(image: str) -> float:
    return int(docker("image", "inspect", "--format", "{{.Size}}", image)) / MB


def top_layer_mb(image: str) -> float:
    """The size of the image's last layer that holds files (the package's, in ours)."""
    sizes = docker("history", "--no-trunc", "--human=false", "--format", "{{.Size}}", image)
    return next(int(s) for s in sizes.split() if int(s) > 0) / MB


def remove(*images: str) -> None:
    for image in images:
        subprocess.run(["docker", "rmi", image], capture_output=True, check=False)


def one_round(tree: Path, real_base: str, nonce: str) -> dict[str, float]:
    base = f"warmup-bench-base:{nonce}"
    docker("build", "--quiet", "--tag", base, "-", stdin=(
        f"FROM {real_base}\nLABEL io.warmup-autoscaler.bench={nonce}\n"
    ))  # fmt: skip
    repo = APP.rsplit(":", 1)[0]
    try:
        full_s = build(tree, base)
        sizes = {"worker_mb": size_mb(WORKER), "auto_scaler_mb": size_mb(APP)}
        policy = tree / "src" / "warmup_autoscaler" / "policy.py"
        policy.write_text(policy.read_text() + f"# a one-line change ({nonce})\n")
        rebuild_s = build(tree, base)
        return {
            "full_s": full_s,
            "rebuild_s": rebuild_s,
            **sizes,
            "worker_source_layer_mb": top_layer_mb(WORKER),
            "auto_scaler_source_layer_mb": top_layer_mb(APP),
        }
    finally:
        remove(APP, WORKER, f"{repo}:cache-deps", f"{repo}:cache-app", base)


def run(*, quick: bool = False) -> dict[str, float]:
    rounds = int(os.environ.get("BENCH_IMAGES_ROUNDS", 1 if quick else 3))
    real_base = os.environ.get("BENCH_IMAGES_BASE", "warmup-python-base:bookworm")
    try:
        docker("image", "inspect", real_base)
    except (OSError, RuntimeError) as exc:
        print(f"skipped: {exc} (run scripts/docker-setup.sh and scripts/build-base-image.sh)")
        return {}
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        copy_build_inputs(tree)
        for n in range(rounds):
            sample = one_round(tree, real_base, f"{os.getpid()}-{n}")
            print("  " + ", ".join(f"{k} {v:.2f}" for k, v in sample.items()), flush=True)
            samples.append(sample)
    result = {key: statistics.median(s[key] for s in samples) for key in samples[0]}
    result["ratio"] = result["rebuild_s"] / result["full_s"]
    print(
        f"{rounds} rounds (medians): full build {result['full_s']:.1f} s, rebuild after a "
        f"one-line change {result['rebuild_s']:.1f} s ({result['ratio']:.3f}); worker "
        f"{result['worker_mb']:.1f} MB, auto-scaler {result['auto_scaler_mb']:.1f} MB; the "
        f"rebuild's new layer {result['worker_source_layer_mb']:.2f} MB (worker), "
        f"{result['auto_scaler_source_layer_mb']:.2f} MB (auto-scaler)"
    )
    return result
