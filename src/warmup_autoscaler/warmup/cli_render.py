"""The `mailbox list` table (rich), kept apart so the worker never imports it."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["render_mailboxes"]


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def render_mailboxes(items: list[dict[str, Any]], pool: dict[str, Any]) -> None:
    console = Console()
    if not items:
        console.print(
            "no warmup mailboxes yet: `warmup-autoscaler mailbox add` or `mailbox import`"
        )
        return
    table = Table(
        title=(
            f"warmup pool, last {pool['windowDays']} days: {pool['sent']} sent, "
            f"inbox rate {_rate(pool['inboxRate'])}, {pool['rescued']} rescued, "
            f"{pool['replied']} replied, {pool['bounced']} bounced"
        ),
        title_justify="left",
    )
    for column in ("id", "email", "state", "ramp", "sent", "inbox", "spam", "rescued",
                   "replied", "bounced", "inbox rate"):  # fmt: skip
        table.add_column(column)
    for i in items:
        f = i["figures"]
        state = "disabled" if not i["enabled"] else "active"
        if i["paused"]:
            state = f"[red]paused[/red]: {i['pausedReason']}"
        table.add_row(
            str(i["mailboxId"]), i["email"], state,
            f"{i['startVolume']}+{i['rampPerDay']}/day to {i['targetVolume']}",
            *(str(f[k]) for k in ("sent", "inbox", "spam", "rescued", "replied", "bounced")),
            _rate(f["inboxRate"]),
        )  # fmt: skip
    console.print(table)
