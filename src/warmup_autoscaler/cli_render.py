"""Human-readable tables for the CLI (rich), kept apart so `run` never imports them."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["render_history", "render_status"]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render_status(body: dict[str, Any]) -> None:
    console = Console()
    table = Table(title="warmup-autoscaler", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    pct = body.get("utilizationPercent")
    rows = [
        ("enabled", body.get("enabled")),
        ("platform", body.get("config", {}).get("platform")),
        ("workers", body.get("currentWorkers")),
        ("optimal workers", body.get("optimalWorkers")),
        ("active mailboxes", body.get("mailboxCount")),
        ("utilization", None if pct is None else f"{pct:.1f}%"),
        ("can scale up", body.get("canScaleUp")),
        ("can scale down", body.get("canScaleDown")),
        ("last check", body.get("lastCheckAt")),
    ]
    decision = body.get("lastDecision")
    if decision:
        rows.append(("last decision", f"{decision['action']}: {decision['reason']}"))
    if body.get("lastError"):
        rows.append(("last error", f"[red]{body['lastError']}[/red]"))
    paused = body.get("paused") or {}
    if paused.get("paused"):
        rows.append(("paused", f"until {paused.get('until') or 'resumed'}"))
    if body.get("dryRun"):
        rows.append(("dry run", True))
    for alert in body.get("alerts") or []:
        rows.append((f"alert ({alert['severity']})", alert["message"]))
    for name, value in rows:
        table.add_row(name, _fmt(value))
    console.print(table)
    fleet = body.get("fleet")
    if fleet:
        render_fleet(console, fleet)


def render_fleet(console: Console, fleet: dict[str, Any]) -> None:
    table = Table(
        title=(
            f"fleet: {fleet['live']} live, {fleet['draining']} draining, "
            f"{fleet['activeMailboxes']} active mailboxes, backlog {fleet['backlog']}"
        ),
        title_justify="left",
    )
    for column in ("worker", "state", "host", "pid", "mailboxes", "heartbeat age"):
        table.add_column(column)
    for w in fleet["workers"]:
        table.add_row(
            w["name"],
            w["state"],
            w["host"],
            str(w["pid"]),
            str(w["owned"]),
            f"{w['heartbeatAgeMs'] / 1000:.1f}s",
        )
    console.print(table)


def render_history(items: list[dict[str, Any]]) -> None:
    """One line per check, whatever the terminal's width: each line is cut to the width with an
    ellipsis (the reason, last, goes first), never wrapped; `--json` and `--csv` have it whole."""
    console = Console()
    if not items:
        console.print("no checks journaled yet")
        return
    headers = ("time (UTC)", "action", "workers", "mailboxes", "util.", "executed", "reason")
    rows = [headers]
    for i in items:
        pct, workers = i["utilizationPercent"], i["currentWorkers"]
        rows.append(
            (
                _time(i["checkedAt"]),
                i["action"] or "error",
                "-" if workers is None else f"{workers} -> {i['targetWorkers']}",
                _fmt(i["mailboxCount"]),
                "-" if pct is None else f"{pct:.1f}%",
                "yes" if i["executed"] else (i["skipped"] or "no"),
                i["reason"] or i["error"] or "",
            )
        )
    widths = [max(len(row[n]) for row in rows) for n in range(len(headers) - 1)]
    console.print("decisions, newest first", style="italic")
    for n, row in enumerate(rows):
        line = Text("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)))
        line.append("  " + row[-1])
        if n == 0:
            line.stylize("bold")
        elif row[1] == "error":
            line.stylize("red")
        console.print(line, no_wrap=True, overflow="ellipsis", crop=True, soft_wrap=False)


def _time(iso: str | None) -> str:
    """`2026-05-01T00:00:00.123456Z` as `2026-05-01 00:00:00`."""
    return (iso or "-").replace("T", " ").partition(".")[0].removesuffix("Z")
