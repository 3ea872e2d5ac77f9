"""The simulation's answer for people (a rich table) and for scripts (JSON)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from warmup_autoscaler.simulation.figures import rank_key
from warmup_autoscaler.simulation.replay import Replay
from warmup_autoscaler.simulation.series import Series

__all__ = ["describe", "duration_text", "ranked", "render_table", "render_timeline", "to_json"]

RANKING = "ranked by under-capacity, then flaps, then worker-hours, then actions"


def duration_text(delta: timedelta) -> str:
    seconds = round(delta.total_seconds())
    parts: list[str] = []
    for name, size in (("d", 86_400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size and len(parts) < 2:
            parts.append(f"{seconds // size} {name}")
            seconds %= size
    return " ".join(parts) or "0 s"


def describe(series: Series, lead_time: timedelta) -> str:
    return (
        f"{series.name}: {len(series):,} checks over {duration_text(series.duration)} "
        f"(one every {duration_text(series.step)}), lead time {duration_text(lead_time)}"
    )


def ranked(replays: list[Replay]) -> list[Replay]:
    return sorted(replays, key=lambda r: rank_key(r.figures))


def render_table(console: Console, series: Series, replays: list[Replay], *, compare: bool) -> None:
    rows = ranked(replays) if compare else replays
    title = describe(series, replays[0].lead_time)
    table = Table(title=title + (f"; {RANKING}" if compare else ""), title_justify="left")
    if compare:
        table.add_column("#", justify="right")
    table.add_column("profile", no_wrap=True)
    for name in (
        "under-capacity mailbox-h",
        "worker-h",
        "actions (up/down)",
        "flaps",
        "h >= up",
        "peak backlog",
        "workers end (peak)",
    ):
        table.add_column(name, justify="right")
    for i, r in enumerate(rows, start=1):
        f = r.figures
        cells = [
            r.profile.name,
            f"{f.under_capacity_mailbox_hours:,.1f}",
            f"{f.worker_hours:,.1f}",
            f"{f.actions} ({f.scale_ups}/{f.scale_downs})",
            str(f.flaps),
            f"{f.hours_above_up:,.1f}",
            f"{f.peak_backlog:,}",
            f"{r.checks[-1].workers} ({f.peak_workers})",
        ]
        table.add_row(*([str(i)] if compare else []), *cells)
    console.print(table)


def render_timeline(console: Console, replay: Replay) -> None:
    table = Table(title=f"{replay.profile.name}: every check", title_justify="left")
    for name in ("time", "mailboxes", "workers", "action", "reason"):
        table.add_column(name, justify="right" if name in ("mailboxes", "workers") else "left")
    for c in replay.checks:
        table.add_row(
            c.at.isoformat().replace("+00:00", "Z"),
            f"{c.mailboxes:,}",
            str(c.workers),
            c.action.value,
            c.reason,
        )
    console.print(table)


def to_json(
    series: Series, replays: list[Replay], *, compare: bool, timeline: bool
) -> dict[str, Any]:
    return {
        "series": {
            "name": series.name,
            "checks": len(series),
            "from": series.times[0].isoformat().replace("+00:00", "Z"),
            "to": series.times[-1].isoformat().replace("+00:00", "Z"),
            "stepSeconds": series.step.total_seconds(),
        },
        "leadTimeSeconds": replays[0].lead_time.total_seconds(),
        "ranking": [r.profile.name for r in ranked(replays)] if compare else None,
        "profiles": [r.to_dict(timeline=timeline) for r in replays],
    }
