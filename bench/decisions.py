"""Decisions per second: the engine against the seed's naive rule on the same inputs."""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from warmup_autoscaler.policy import PolicyConfig, decide

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def naive(m: int, n: int) -> int:
    """The seed's rule, nothing else: no cooldowns, bounds, flap guard or reasons."""
    u = m / (n * 1000) if n else 2.0
    return n + 1 if u >= 0.8 else n - 1 if u <= 0.3 else n


def run(*, quick: bool = False) -> dict[str, float]:
    rng = random.Random(7)
    size, rounds = (5_000, 3) if quick else (50_000, 7)
    inputs = [(rng.randint(0, 200_000), rng.randint(1, 100)) for _ in range(size)]
    cfg = PolicyConfig()
    last = NOW - timedelta(minutes=3)
    ours, base = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        for m, n in inputs:
            decide(
                mailboxes=m, workers=n, cfg=cfg, last_scale_up=last, last_scale_down=None, now=NOW
            )
        ours.append(size / (time.perf_counter() - t))
        t = time.perf_counter()
        for m, n in inputs:
            naive(m, n)
        base.append(size / (time.perf_counter() - t))
    o, b = statistics.median(ours), statistics.median(base)
    print(f"engine: {o:,.0f} decisions/s; naive seed rule: {b:,.0f}/s; ratio {o / b:.3f}")
    print(f"(one decision takes {1e6 / o:.1f} us; a check runs one per interval)")
    return {"engine_per_s": o, "naive_per_s": b}
