"""Decisions per second: `policy.decide` against the seed's naive rule, over the same inputs.

The inputs are generated once (seeded): mailboxes 0..200,000, workers 0..120 (so some fall outside
the default 1..100 bounds), and last scale-up/scale-down times from "never" to 20 minutes ago (so
the cooldown and flap-guard branches all run). The baseline is the seed's rule and nothing else:
utilization >= 0.8 -> n + 1, <= 0.3 -> n - 1, else n; no bounds, cooldowns or reasons. Each round
times both loops, alternating which goes first.

Sizes: `BENCH_DECISIONS_INPUTS`, `BENCH_DECISIONS_ROUNDS` (or `--quick`).
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from warmup_autoscaler.policy import PolicyConfig, decide

__all__ = ["naive", "run"]

NOW = datetime(2026, 1, 1, tzinfo=UTC)
Input = tuple[int, int, datetime | None, datetime | None]


def naive(m: int, n: int) -> int:
    """The seed's rule, nothing else: no cooldowns, bounds, flap guard or reasons."""
    u = m / (n * 1000) if n else float("inf")
    return n + 1 if u >= 0.8 else n - 1 if u <= 0.3 else n


def inputs(size: int, seed: int = 7) -> list[Input]:
    rng = random.Random(seed)

    def ago() -> datetime | None:
        return None if rng.random() < 0.3 else NOW - timedelta(seconds=rng.uniform(0, 1200))

    return [(rng.randint(0, 200_000), rng.randint(0, 120), ago(), ago()) for _ in range(size)]


def _ours(data: list[Input], cfg: PolicyConfig) -> float:
    start = time.perf_counter()
    for m, n, up, down in data:
        decide(mailboxes=m, workers=n, cfg=cfg, last_scale_up=up, last_scale_down=down, now=NOW)
    return time.perf_counter() - start


def _naive(data: list[Input], cfg: PolicyConfig) -> float:
    start = time.perf_counter()
    for m, n, _up, _down in data:
        naive(m, n)
    return time.perf_counter() - start


def run(*, quick: bool = False) -> dict[str, float]:
    size = int(os.environ.get("BENCH_DECISIONS_INPUTS", 5_000 if quick else 50_000))
    rounds = int(os.environ.get("BENCH_DECISIONS_ROUNDS", 3 if quick else 7))
    data, cfg = inputs(size), PolicyConfig()
    ours, base = [], []
    for i in range(rounds):
        pair = (_ours, _naive) if i % 2 == 0 else (_naive, _ours)
        for timed in pair:
            rate = size / timed(data, cfg)
            (ours if timed is _ours else base).append(rate)
    o, b = statistics.median(ours), statistics.median(base)
    print(
        f"{size:,} inputs x {rounds} rounds (medians): engine {o:,.0f} decisions/s "
        f"({1e6 / o:.1f} us each); naive seed rule {b:,.0f}/s ({1e6 / b:.2f} us); ratio {o / b:.4f}"
    )
    return {"engine_per_s": o, "naive_per_s": b, "ratio": o / b}
