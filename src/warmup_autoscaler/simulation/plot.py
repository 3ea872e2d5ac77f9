"""Mailboxes against each profile's capacity, as a PNG or SVG (matplotlib, Agg backend).

matplotlib is imported here only, when a plot is asked for: the rest of the simulation (and the
daemon) never loads it. It comes with the `plot` extra: pip install 'warmup-autoscaler[plot]'.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from warmup_autoscaler.errors import AutoscalerError
from warmup_autoscaler.simulation.replay import Replay
from warmup_autoscaler.simulation.series import Series

__all__ = ["FORMATS", "plot"]

FORMATS = (".png", ".svg")
DPI = 100


def _num(mdates: Any, times: Sequence[datetime]) -> Any:
    """matplotlib's date numbers (its date2num is untyped)."""
    return mdates.date2num(list(times))


def plot(series: Series, replays: list[Replay], path: Path, size: tuple[int, int]) -> Path:
    """Draw the series and each replay's capacity (workers x mailboxes per worker) into `path`,
    `size` pixels wide and high."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise AutoscalerError(
            "--plot needs matplotlib: pip install 'warmup-autoscaler[plot]' (or matplotlib)"
        ) from exc
    width, height = size
    fig, ax = plt.subplots(figsize=(width / DPI, height / DPI), dpi=DPI)
    try:
        ax.step(
            _num(mdates, series.times),
            series.mailboxes,
            where="post",
            color="#111827",
            lw=2,
            label="mailboxes",
        )
        styles = ("-", "--", "-.", ":")
        for i, r in enumerate(replays):
            per = r.profile.policy.mailboxes_per_worker
            ax.step(
                _num(mdates, [c.at for c in r.checks]),
                [c.workers * per for c in r.checks],
                where="post",
                lw=1.6,
                linestyle=styles[i % len(styles)],
                color=f"C{i % 10}",
                label=f"capacity: {r.profile.name}",
            )
        ax.xaxis_date()
        ax.set_title(f"{series.name}: mailboxes and capacity per profile")
        ax.set_ylabel("mailboxes")
        ax.set_ylim(bottom=0)
        ax.grid(True, color="#e5e7eb")
        ax.legend(loc="upper left", fontsize="small")
        fig.autofmt_xdate()
        fig.tight_layout()
        try:
            fig.savefig(path, dpi=DPI, format=path.suffix.lstrip(".").lower())
        except OSError as exc:
            raise AutoscalerError(f"cannot write the plot to {path}: {exc.strerror}") from exc
    finally:
        plt.close(fig)
    return path
