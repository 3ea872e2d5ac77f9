"""`make bench`: every benchmark, each against a baseline measured side by side in the same run.

Figures are medians of several rounds; the headline of each benchmark is a ratio (ours / baseline),
since the machines are shared and absolute times drift. `--quick` shrinks the sizes for a smoke
run; each module also reads its own `BENCH_*` sizes from the environment (see its docstring). The
run ends with one summary table; record it in BENCHMARKS.md with the command that produced it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

Result = dict[str, float]


@dataclass(frozen=True, kw_only=True)
class Row:
    """One line of the summary: ours against its baseline, and the goal if the issue set one."""

    label: str
    ours: str
    baseline: str
    ratio: float
    goal: str = "none"


def _vs(label: str, ours: float, base: float, fmt: str, goal: str = "none") -> Row:
    """A row of `ours` against `base`, both shown with `fmt` (e.g. "{:.2f} ms"), ratio ours/base."""
    return Row(
        label=label, ours=fmt.format(ours), baseline=fmt.format(base), ratio=ours / base, goal=goal
    )


CHECK_GOAL_MS = 2.0  # issue 9: a check adds at most 2 ms to the bare count
MEMORY_GOAL_MB = 10.0  # issue 9: at most 10 MB over bare FastAPI + uvicorn + SQLAlchemy


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _check(r: Result) -> list[Row]:
    ms, count = "{:.2f} ms", r["count_ms"]
    return [
        _vs(
            "check vs bare count (PostgreSQL)",
            r["check_ms"],
            count,
            ms,
            f"<= +{CHECK_GOAL_MS:g} ms: {_met(r['check_ms'] - count <= CHECK_GOAL_MS)}",
        ),
        _vs("  bare count in a thread", r["count_thread_ms"], count, ms),
        _vs(
            "  check, journal awaited (phase 2)",
            r["check_awaited_ms"],
            r["count_phase2_ms"],
            ms,
        ),
        Row(
            label="  its journal write, after",
            ours=ms.format(r["journal_after_ms"]),
            baseline="-",
            ratio=float("nan"),
        ),
    ]


def _decisions(r: Result) -> list[Row]:
    per_s = "{:,.0f}/s"
    return [
        _vs("decisions/s vs naive seed rule", r["engine_per_s"], r["naive_per_s"], per_s),
    ]


def _memory(r: Result) -> list[Row]:
    mb, floor = "{:.1f} MB", r["floor_mb"]
    over = r["daemon_mb"] - floor
    rows = [
        _vs(
            "daemon RSS at rest vs FastAPI+SQLAlchemy",
            r["daemon_mb"],
            floor,
            mb,
            f"<= +{MEMORY_GOAL_MB:g} MB: {_met(over <= MEMORY_GOAL_MB)}",
        ),
        _vs("  bare FastAPI alone", r["bare_mb"], floor, mb),
    ]
    if "daemon_postgres_mb" in r:
        rows.append(_vs("  same daemon on PostgreSQL", r["daemon_postgres_mb"], floor, mb))
    return rows


def _status(r: Result) -> list[Row]:
    ratio = r["status_rps"] / r["bare_rps"]
    return [
        _vs(
            "status req/s vs bare FastAPI",
            r["status_rps"],
            r["bare_rps"],
            "{:,.0f}/s",
            f">= 0.8: {_met(ratio >= 0.8)}",
        )
    ]


def _rebalance(r: Result) -> list[Row]:
    whole = r["spawn_to_registered_s"] + r["registered_to_balanced_s"]
    return [_vs("spawn -> balanced vs bare start", whole, r["bare_start_s"], "{:.2f} s")]


def _claims(r: Result) -> list[Row]:
    return [
        _vs(
            "claims/s, SKIP LOCKED vs without",
            r["claims_per_s"],
            r["naive_claims_per_s"],
            "{:,.0f}/s",
        )
    ]


def _simulation(r: Result) -> list[Row]:
    rows = []
    for kind in ("growth", "bulk-import", "churn", "steady"):
        ours, lean = r[f"{kind}_tracking_wh"], r[f"{kind}_leanest_wh"]
        clean = r[f"{kind}_tracking_under"] == 0 and r[f"{kind}_tracking_flaps"] == 0
        ok = clean and ours <= 1.05 * lean
        rows.append(
            _vs(
                f"{kind}: tracking worker-h vs leanest 0-under rule",
                ours,
                lean,
                "{:,.1f} h",
                f"<= 1.05, 0 under, 0 flaps: {_met(ok)}",
            )
        )
    for kind in ("growth", "bulk-import", "churn", "steady"):
        ours, lean = r[f"{kind}_tracking_wh"], r[f"{kind}_leanest_safe_wh"]
        rows.append(
            _vs(
                f"{kind}: ... vs leanest rule 0-under on every series",
                ours,
                lean,
                "{:,.1f} h",
                f"<= 1.05: {_met(ours <= 1.05 * lean)}",
            )
        )
    rows.append(
        _vs(
            "churn: tracking worker-h vs the seed's band",
            r["churn_tracking_wh"],
            r["churn_band_wh"],
            "{:,.1f} h",
            f"< 1: {_met(r['churn_tracking_wh'] < r['churn_band_wh'])}",
        )
    )
    return rows


def _reaction(r: Result) -> list[Row]:
    s, ms, checks = "{:.3f} s", "{:.3f} ms", r["burst_checks"]
    return [
        _vs(
            "commit -> scale action, NOTIFY vs interval only",
            r["notify_s"],
            r["interval_s"],
            s,
            f"<= 1 s: {_met(r['notify_s'] <= 1.0)}",
        ),
        _vs("  the same with the probe (no trigger, 2 s)", r["probe_s"], r["interval_s"], s),
        Row(
            label="  extra checks, 1,000 commits in 5 s",
            ours=f"{checks:.0f}",
            baseline="-",
            ratio=float("nan"),
            goal=f"<= 6: {_met(checks <= 6)}",
        ),
        _vs(
            "  one commit, with the trigger vs without",
            r["trigger_write_ms"],
            r["plain_write_ms"],
            ms,
        ),
        _vs("  probe vs count, PostgreSQL (stats)", r["pg_probe_ms"], r["pg_count_ms"], ms),
        _vs(
            "  probe vs count, SQLite (data_version)",
            r["sqlite_probe_ms"],
            r["sqlite_count_ms"],
            ms,
        ),
    ]


def _images(r: Result) -> list[Row]:
    def size(label: str, mb: float, goal_mb: int) -> Row:
        return Row(
            label=label,
            ours=f"{mb:.1f} MB",
            baseline="-",
            ratio=float("nan"),
            goal=f"<= {goal_mb} MB: {_met(mb <= goal_mb)}",
        )

    return [
        _vs("image rebuild after a src/ change vs full", r["rebuild_s"], r["full_s"], "{:.1f} s"),
        size("  worker image", r["worker_mb"], 200),
        size("  auto-scaler image", r["auto_scaler_mb"], 300),
        Row(
            label="  layer the rebuild adds (worker / auto-scaler)",
            ours=f"{r['worker_source_layer_mb']:.2f} / {r['auto_scaler_source_layer_mb']:.2f} MB",
            baseline="-",
            ratio=float("nan"),
        ),
    ]


def _warmup(r: Result) -> list[Row]:
    return [
        _vs(
            "warmup messages/s, one worker vs bare smtplib+imaplib",
            r["sent_per_s"],
            r["base_per_s"],
            "{:.1f}/s",
        ),
        Row(
            label="  worker CPU per message / per idle cycle",
            ours=f"{r['cpu_ms_per_message']:.1f} / {r['cpu_ms_per_idle_cycle']:.1f} ms",
            baseline="-",
            ratio=float("nan"),
        ),
        Row(
            label="  cores for 1,000 mailboxes at 40/day",
            ours=f"{r['cores_per_1000']:.3f}",
            baseline="-",
            ratio=float("nan"),
            goal="< 1 core per worker",
        ),
    ]


def _coordination(r: Result) -> list[Row]:
    ms = "{:.3f} ms"
    small, large = r["small_ours_ms"], r["large_ours_ms"]
    growth = large / small
    size = "{:,.0f} mailboxes, {:,.0f} workers"
    rows = [
        _vs(
            f"heartbeat, {size.format(r[f'{tag}_mailboxes'], r[f'{tag}_workers'])}",
            r[f"{tag}_ours_ms"],
            r[f"{tag}_base_ms"],
            ms,
            f"<= 1 ms: {_met(r[f'{tag}_ours_ms'] <= 1)}",
        )
        for tag in ("small", "large")
    ]
    rows += [
        _vs("  its p99 (large)", r["large_ours_p99_ms"], r["large_base_p99_ms"], ms),
        _vs("  in the database, median (large)", r["large_ours_db_ms"], r["large_base_db_ms"], ms),
        _vs(
            "  the server's own time (large)",
            r["large_ours_server_ms"],
            r["large_base_server_ms"],
            ms,
        ),
        _vs("heartbeat, large vs small", large, small, ms, f"<= 1.5: {_met(growth <= 1.5)}"),
    ]
    if "join_ratio" in r:
        rows.append(
            Row(
                label="join: moved / minimum (large)",
                ours=f"{r['join_ratio']:.3f}",
                baseline="-",
                ratio=float("nan"),
                goal=f"<= 1.05: {_met(r['join_ratio'] <= 1.05)}",
            )
        )


HOSTILE_GOAL_MB = 5.0  # issue 10: RSS unchanged within 5 MB by 10,000 malformed requests


def _hostile(r: Result) -> list[Row]:
    rows = []
    if "status_rps" in r:
        rows += [
            _vs(
                "status req/s, 200 clients, checks running",
                r["status_rps"],
                r["bare_rps"],
                "{:,.0f}/s",
            ),
            _vs("  p99 latency, 200 clients", r["status_p99_ms"], r["bare_p99_ms"], "{:.1f} ms"),
        ]
    grew = r["rss_after_mb"] - r["rss_before_mb"]
    rows.append(
        _vs(
            f"RSS after {r['malformed']:,.0f} malformed requests vs before",
            r["rss_after_mb"],
            r["rss_before_mb"],
            "{:.1f} MB",
            f"<= +{HOSTILE_GOAL_MB:g} MB: {_met(grew <= HOSTILE_GOAL_MB)}",
        )
    )
    return rows


# name -> (module in bench/, its summary rows)
BENCHMARKS: dict[str, tuple[str, Callable[[Result], list[Row]]]] = {
    "decisions": ("decisions", _decisions),
    "check": ("check", _check),
    "memory": ("memory", _memory),
    "status": ("status_api", _status),
    "rebalance": ("rebalance", _rebalance),
    "claims": ("claims", _claims),
    "simulation": ("simulation", _simulation),
    "reaction": ("reaction", _reaction),
    "images": ("images", _images),
    "warmup": ("warmup", _warmup),
    "coordination": ("coordination", _coordination),
    "hostile": ("hostile", _hostile),
}


def print_summary(rows: list[Row]) -> None:
    header = ("benchmark", "ours", "baseline", "ratio", "goal")
    table = [
        header,
        *(
            (r.label, r.ours, r.baseline, "-" if r.ratio != r.ratio else f"{r.ratio:.3f}", r.goal)
            for r in rows
        ),
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for n, line in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        help="run only this benchmark (repeatable)",
    )
    args = parser.parse_args()
    sizes = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("BENCH_"))
    command = shlex.join(["python", "-m", "bench", *sys.argv[1:]])
    print(f"command: {' '.join(filter(None, [sizes, command]))}")
    print(
        f"python {platform.python_version()} on {platform.machine()} {sys.platform}, "
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}"
    )
    rows: list[Row] = []
    failed: list[str] = []
    for name, (module, summarize) in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        print(f"\n== {name}", flush=True)
        started = time.monotonic()
        try:
            result = importlib.import_module(f"bench.{module}").run(quick=args.quick)
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc(file=sys.stdout)
            failed.append(name)
            continue
        print(f"({time.monotonic() - started:.0f} s)", flush=True)
        if result:
            rows += summarize(result)
        else:
            print("skipped (nothing measured)")
    print("\n== summary (medians; ratio = ours / baseline)")
    print_summary(rows)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
