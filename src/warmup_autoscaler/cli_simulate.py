"""`warmup-autoscaler simulate`: replay counts through the real policy and compare profiles.

Registered on the CLI by cli.py; imports the simulation (and rich, and matplotlib for `--plot`)
only when the command runs. Bad arguments, a bad CSV or a bad `--set` exit 2; a database that
cannot be read, or holds no samples, exits 1.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["parse_duration", "simulate"]

PROGRESS_FROM = 20_000  # checks x profiles from which a progress bar is shown
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86_400}


def parse_duration(text: str) -> timedelta:
    """`90s`, `5m`, `2h`, `7d`, or a number of seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*", text)
    if not match:
        raise ValueError(f"{text!r} is not a duration: use e.g. 30s, 5m, 2h or 7d")
    return timedelta(seconds=float(match[1]) * _UNITS[match[2] or "s"])


def _duration(option: str, text: str | None) -> timedelta | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _levels(text: str | None) -> tuple[int | None, int | None]:
    if text is None:
        return None, None
    match = re.fullmatch(r"\s*(\d+)\s*(?::\s*(\d+)\s*)?", text)
    if not match:
        raise typer.BadParameter("use LOW or LOW:HIGH, e.g. 900:4500", param_hint="--mailboxes")
    low = int(match[1])
    return low, int(match[2]) if match[2] else low


def simulate(
    from_history: Annotated[
        str | None,
        typer.Option(
            "--from-history",
            metavar="WINDOW",
            help="Replay the stored samples of the last WINDOW (e.g. 24h, 7d, 30d).",
        ),
    ] = None,
    csv_file: Annotated[
        Path | None,
        typer.Option("--csv", metavar="FILE", help="Replay a CSV of timestamp,mailboxes rows."),
    ] = None,
    generate: Annotated[
        str | None,
        typer.Option(
            "--generate",
            metavar="KIND",
            help="Replay a generated series: growth, bulk-import, churn, steady, seed-timeline.",
        ),
    ] = None,
    mailboxes: Annotated[
        str | None,
        typer.Option(
            metavar="LOW[:HIGH]", help="Generated series: its levels [default: per kind]."
        ),
    ] = None,
    days: Annotated[
        float | None, typer.Option(min=0.01, help="Generated series: its length in days.")
    ] = None,
    noise: Annotated[
        float, typer.Option(min=0, max=1, help="Generated series: relative noise.")
    ] = 0.01,
    seed: Annotated[int, typer.Option(help="Generated series: noise seed.")] = 12,
    step: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="One check every DURATION (counts held between points) [default: one check "
            "per point; generated series every 5m].",
        ),
    ] = None,
    profile: Annotated[
        list[str] | None,
        typer.Option(
            "--profile",
            metavar="NAME",
            help="A profile to replay (repeatable): current, conservative, balanced, aggressive, "
            "step, target, tracking, predictive [default: current; with --compare: current and "
            "the seed's three].",
        ),
    ] = None,
    variants: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="NAME=VALUE[,NAME=VALUE]",
            help="A variant of the current settings to replay too (repeatable), e.g. "
            "SCALING_MODE=tracking,TARGET_UTILIZATION=0.8.",
        ),
    ] = None,
    compare: Annotated[
        bool, typer.Option("--compare", help="Rank the profiles side by side in one table.")
    ] = False,
    lead_time: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="The platform's time to ready a worker [default: 0s; with --from-history, the "
            "measured one].",
        ),
    ] = None,
    start_workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Workers before the first check [default: the stored ones, else each "
            "profile's optimal count].",
        ),
    ] = None,
    plot_file: Annotated[
        Path | None,
        typer.Option(
            "--plot", metavar="FILE", help="Draw mailboxes and each capacity (.png or .svg)."
        ),
    ] = None,
    plot_size: Annotated[
        str, typer.Option(metavar="WxH", help="The plot's size in pixels.")
    ] = "1200x600",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    timeline: Annotated[
        bool, typer.Option("--timeline", help="Every check too (in --json, or a table).")
    ] = False,
) -> None:
    """Replay mailbox counts through the real decision engine and measure each profile."""
    from rich.console import Console

    from warmup_autoscaler.simulation import build_profiles, replay
    from warmup_autoscaler.simulation.plot import FORMATS, plot
    from warmup_autoscaler.simulation.report import render_table, render_timeline, to_json

    sources = [s for s in (from_history, csv_file, generate) if s is not None]
    if len(sources) != 1:
        raise typer.BadParameter(
            "give exactly one of --from-history WINDOW, --csv FILE or --generate KIND",
            param_hint="source",
        )
    size = re.fullmatch(r"(\d{2,5})x(\d{2,5})", plot_size)
    if not size:
        raise typer.BadParameter(
            "use WIDTHxHEIGHT in pixels, e.g. 1200x600", param_hint="--plot-size"
        )
    if plot_file is not None and plot_file.suffix.lower() not in FORMATS:
        raise typer.BadParameter("the file must end in .png or .svg", param_hint="--plot")
    every = _duration("--step", step)
    lead = _duration("--lead-time", lead_time)
    names = profile or (["current", "conservative", "balanced", "aggressive"] if compare else [])
    if not names and not variants:
        names = ["current"]
    profiles = build_profiles(_env_file(), names, variants or [])
    series, measured = _series(
        from_history, csv_file, generate, mailboxes, days, noise, seed, every
    )
    lead = lead if lead is not None else (measured or timedelta(0))
    console = Console(stderr=True)
    replays = _replay_all(console, series, profiles, lead, start_workers, replay)
    if plot_file is not None:
        plot(series, replays, plot_file, (int(size[1]), int(size[2])))
        console.print(f"plot written to {plot_file}")
    if as_json:
        typer.echo(
            json.dumps(to_json(series, replays, compare=compare, timeline=timeline), indent=2)
        )
        return
    out = Console()
    out = out if out.is_terminal else Console(width=160)  # a pipe or a file: no wrapping at 80
    render_table(out, series, replays, compare=compare)
    if timeline:
        for r in replays:
            render_timeline(out, r)


def _env_file() -> Path | None:
    from warmup_autoscaler import cli

    return cli._env_file


def _series(
    from_history: str | None,
    csv_file: Path | None,
    kind: str | None,
    levels: str | None,
    days: float | None,
    noise: float,
    seed: int,
    every: timedelta | None,
) -> tuple[Any, timedelta | None]:
    """The series to replay, and the measured lead time when it comes from the database."""
    from warmup_autoscaler.errors import SeriesError
    from warmup_autoscaler.simulation import generate, read_csv
    from warmup_autoscaler.simulation.series import DEFAULT_STEP, GENERATORS

    measured = None
    try:
        if kind is not None:
            if kind not in GENERATORS:
                raise typer.BadParameter(
                    f"choose one of {', '.join(GENERATORS)}", param_hint="--generate"
                )
            low, high = _levels(levels)
            series = generate(
                kind,
                low=low,
                high=high,
                days=days,
                step=every or DEFAULT_STEP,
                noise=noise,
                seed=seed,
            )
            every = None if kind != "seed-timeline" else every
        elif csv_file is not None:
            series = read_csv(csv_file)
        else:
            window = _duration("--from-history", from_history)
            assert window is not None
            series, measured = _stored(window, from_history or "")
        return (series.resample(every) if every else series), measured
    except SeriesError as exc:
        if from_history is not None:
            raise
        option = "--csv" if csv_file is not None else "--generate"
        raise typer.BadParameter(exc.message, param_hint=option) from exc


def _stored(window: timedelta, label: str) -> tuple[Any, timedelta | None]:
    from warmup_autoscaler.cli import _database
    from warmup_autoscaler.controller import utc_now
    from warmup_autoscaler.simulation.series import MAX_HISTORY_POINTS, from_samples
    from warmup_autoscaler.store.history import HistoryStore
    from warmup_autoscaler.store.lead_times import LeadTimeStore

    db = _database()
    try:
        until = utc_now()
        stored = HistoryStore(db).samples(until - window, until, max_points=MAX_HISTORY_POINTS)
        measured = LeadTimeStore(db).typical()
    finally:
        db.dispose()
    return from_samples(stored, f"last {label.strip()} of samples"), measured


def _replay_all(
    console: Any,
    series: Any,
    profiles: list[Any],
    lead: timedelta,
    start_workers: int | None,
    replay: Any,
) -> list[Any]:
    from rich.progress import Progress

    total = len(series) * len(profiles)
    with Progress(console=console, transient=True, disable=total < PROGRESS_FROM) as bar:
        task = bar.add_task("replaying", total=total)
        replays = []
        for i, p in enumerate(profiles):
            done = i * len(series)
            replays.append(
                replay(
                    series,
                    p,
                    lead_time=lead,
                    start_workers=start_workers,
                    progress=lambda n, done=done: bar.update(task, completed=done + n),
                )
            )
    return replays
