"""Our scaling modes against an HPA-style and a KEDA-style rule on the generated series.

Every rule sees the same counts at the same checks (one per point, every 5 min) and is measured by
the same `simulation.figures.measure`. Ours run through `simulation.replay` (the real policy); the
baselines are `bench/baselines.py`. The goal (issue 12): on every series, tracking mode with 0
under-capacity mailbox-hours, 0 flaps, and worker-hours within 1.05x of the leanest rule that has
0 under-capacity. A second table replays predictive scaling with each candidate forecaster
(`bench/forecasters.py`) with a 60 s lead time, on the series and on a fast growth.

Sizes: `BENCH_SIMULATION_SEEDS` (noise seeds per series; medians are reported), or `--quick`.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bench.baselines import HpaRule
from bench.forecasters import CANDIDATES
from warmup_autoscaler.forecast import SlopeFit
from warmup_autoscaler.simulation import build_profiles, generate, measure, replay
from warmup_autoscaler.simulation.figures import Figures
from warmup_autoscaler.simulation.profiles import Profile
from warmup_autoscaler.simulation.series import Series

__all__ = ["run"]

SERIES = ("growth", "bulk-import", "churn", "steady")
OURS = ("balanced", "target", "tracking", "predictive")
PER_WORKER = 1000
LEAD = timedelta(seconds=60)


@dataclass(frozen=True, kw_only=True)
class Row:
    rule: str
    figures: Figures


def _hpa(series: Series, rule: HpaRule, per_worker: int, up: float) -> Figures:
    n = max(rule.min_replicas, -(-series.mailboxes[0] // int(rule.per_replica)))
    start, workers = n, []
    for at, m in zip(series.times, series.mailboxes, strict=True):
        n = rule.decide(m, n, at)
        workers.append(n)
    return measure(
        series.times,
        series.mailboxes,
        workers,
        start_workers=start,
        per_worker=per_worker,
        up_threshold=up,
    )


def _rules(series: Series, profiles: list[Profile]) -> list[Row]:
    rows = [Row(rule=p.name, figures=replay(series, p).figures) for p in profiles]
    tracking = next(p for p in profiles if p.name == "tracking").policy
    set_point = tracking.target_utilization
    up = tracking.scale_up_threshold
    baselines = [
        HpaRule(f"hpa (target {set_point:.0%})", per_replica=PER_WORKER * set_point),
        HpaRule(f"keda (target {PER_WORKER * set_point:.0f})", per_replica=PER_WORKER * set_point),
        HpaRule(f"keda (target {PER_WORKER})", per_replica=PER_WORKER),
    ]
    rows += [Row(rule=b.name, figures=_hpa(series, b, PER_WORKER, up)) for b in baselines]
    return rows


def _median_rows(per_seed: list[list[Row]]) -> list[Row]:
    out = []
    for i, first in enumerate(per_seed[0]):
        fs = [rows[i].figures for rows in per_seed]

        def med(name: str, fs: list[Figures] = fs) -> float:
            return statistics.median(getattr(f, name) for f in fs)

        out.append(
            Row(
                rule=first.rule,
                figures=Figures(
                    hours=med("hours"),
                    under_capacity_mailbox_hours=med("under_capacity_mailbox_hours"),
                    worker_hours=med("worker_hours"),
                    scale_ups=round(med("scale_ups")),
                    scale_downs=round(med("scale_downs")),
                    flaps=round(med("flaps")),
                    hours_above_up=med("hours_above_up"),
                    peak_backlog=round(med("peak_backlog")),
                    peak_workers=round(med("peak_workers")),
                ),
            )
        )
    return out


def _print(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    print(
        f"  {'rule':<24} {'under mbx-h':>11} {'worker-h':>9} {'actions':>7} {'flaps':>5} "
        f"{'h >= up':>7} {'peak backlog':>12}"
    )
    for r in rows:
        f = r.figures
        print(
            f"  {r.rule:<24} {f.under_capacity_mailbox_hours:>11.1f} {f.worker_hours:>9.1f} "
            f"{f.actions:>7} {f.flaps:>5} {f.hours_above_up:>7.1f} {f.peak_backlog:>12,}"
        )


def _forecasters(seeds: list[int], profiles: dict[str, Profile]) -> None:
    cases = [(k, {}) for k in SERIES] + [("growth", {"days": 1.0})]
    print(
        f"\nforecasters: tracking + predictive, lead time {LEAD.total_seconds():.0f} s "
        "('none': tracking alone)"
    )
    print(
        f"  {'series':<16} {'fit':<14} {'under mbx-h':>11} {'worker-h':>9} {'actions':>7} "
        f"{'flaps':>5} {'h >= up':>7} {'forecast-driven':>15}"
    )
    fits: dict[str, SlopeFit | None] = {"none": None, **CANDIDATES}
    for kind, extra in cases:
        label = kind if not extra else f"{kind} (1 day)"
        for name, fit in fits.items():
            profile = profiles["tracking" if fit is None else "predictive"]
            figs, driven = [], []
            for seed in seeds:
                series = generate(kind, seed=seed, **extra)  # type: ignore[arg-type]
                r = replay(series, profile, lead_time=LEAD, slope=fit)
                figs.append(r.figures)
                driven.append(sum(1 for c in r.actions() if c.forecast is not None))
            med = statistics.median
            print(
                f"  {label:<16} {name:<14} "
                f"{med(f.under_capacity_mailbox_hours for f in figs):>11.1f} "
                f"{med(f.worker_hours for f in figs):>9.1f} {med(f.actions for f in figs):>7.0f} "
                f"{med(f.flaps for f in figs):>5.0f} {med(f.hours_above_up for f in figs):>7.1f} "
                f"{med(driven):>15.0f}"
            )


def run(*, quick: bool = False) -> dict[str, float]:
    seeds = list(range(int(os.environ.get("BENCH_SIMULATION_SEEDS", 3 if quick else 7))))
    profiles = build_profiles(Path("/nonexistent/.env"), list(OURS), [])
    result: dict[str, float] = {}
    started = time.perf_counter()
    checks = 0
    tables: dict[str, list[Row]] = {}
    worst: dict[tuple[str, str], tuple[float, int]] = {}  # (series, rule) -> under, flaps
    for kind in SERIES:
        per_seed = []
        for seed in seeds:
            series = generate(kind, seed=seed)
            checks += len(series) * (len(profiles) + 3)
            per_seed.append(_rules(series, profiles))
        tables[kind] = rows = _median_rows(per_seed)
        for i, r in enumerate(per_seed[0]):  # the goal is 0 on every run: the worst seed
            worst[kind, r.rule] = (
                max(rs[i].figures.under_capacity_mailbox_hours for rs in per_seed),
                max(rs[i].figures.flaps for rs in per_seed),
            )
        _print(f"{kind}: medians over {len(seeds)} noise seeds", rows)
        clean = [r for r in rows if worst[kind, r.rule][0] == 0]
        leanest = min(clean, key=lambda r: r.figures.worker_hours)
        print(f"  leanest rule with 0 under-capacity on every seed: {leanest.rule}")
        tracking = next(r.figures for r in rows if r.rule == "tracking")
        result[f"{kind}_tracking_wh"] = tracking.worker_hours
        result[f"{kind}_leanest_wh"] = leanest.figures.worker_hours
        result[f"{kind}_tracking_under"], result[f"{kind}_tracking_flaps"] = worst[kind, "tracking"]
        result[f"{kind}_band_wh"] = next(
            r.figures.worker_hours for r in rows if r.rule == "balanced"
        )
    safe = [r.rule for r in tables[SERIES[0]] if all(worst[k, r.rule][0] == 0 for k in SERIES)]
    print(f"\nrules with 0 under-capacity on every series and seed: {', '.join(safe)}")
    for kind in SERIES:
        lean = min(r.figures.worker_hours for r in tables[kind] if r.rule in safe)
        print(
            f"  {kind}: tracking {result[f'{kind}_tracking_wh']:,.1f} worker-h, leanest of "
            f"those {lean:,.1f} ({result[f'{kind}_tracking_wh'] / lean:.3f}x)"
        )
        result[f"{kind}_leanest_safe_wh"] = lean
    elapsed = time.perf_counter() - started
    print(f"{checks:,} replayed checks in {elapsed:.1f} s ({checks / elapsed:,.0f}/s)")
    _forecasters(seeds, {p.name: p for p in profiles})
    return result
