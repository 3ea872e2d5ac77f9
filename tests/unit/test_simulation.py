"""The simulation's parts on known inputs: the figures' arithmetic (lead time, flaps), series from
CSV and generators, profiles and their validation, and the progress bar of long replays."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from warmup_autoscaler.cli_simulate import PROGRESS_FROM, _replay_all, parse_duration
from warmup_autoscaler.errors import ConfigError, SeriesError
from warmup_autoscaler.simulation import build_profiles, generate, measure, read_csv, replay
from warmup_autoscaler.simulation.series import Series

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MIN = timedelta(minutes=1)


def times(*minutes: int) -> list[datetime]:
    return [T0 + m * MIN for m in minutes]


def test_under_capacity_and_worker_hours_with_a_lead_time():
    """3,000 mailboxes on 2 workers ordered up to 3 at minute 0 with a 6 min lead: 1,000 above
    capacity for 6 minutes (100 mailbox-hours), 3 workers paid for the whole hour."""
    f = measure(
        times(0, 60),
        [3000, 3000],
        [3, 3],
        start_workers=2,
        per_worker=1000,
        up_threshold=0.8,
        lead_time=6 * MIN,
    )
    assert f.under_capacity_mailbox_hours == pytest.approx(100)
    assert f.worker_hours == pytest.approx(3)
    assert f.peak_backlog == 1000
    assert f.hours_above_up == pytest.approx(1)  # 100% then exactly 100% of 3,000: >= 80%
    assert (f.scale_ups, f.scale_downs, f.flaps) == (1, 0, 0)


def test_a_reversal_within_30_minutes_is_a_flap():
    """Up at 0, down at 30 (a flap: within 30 min), up at 61 (not: 31 min later)."""
    f = measure(
        times(0, 30, 61, 90),
        [100] * 4,
        [2, 1, 2, 2],
        start_workers=1,
        per_worker=1000,
        up_threshold=0.8,
    )
    assert (f.scale_ups, f.scale_downs, f.flaps) == (2, 1, 1)


def test_csv_rows_and_their_errors(tmp_path: Path):
    """ISO and Unix times, an optional header; a bad row is named by its line."""
    good = tmp_path / "good.csv"
    good.write_text("timestamp,mailboxes\n2026-01-01T00:00:00Z,10\n1767226200,12\n")
    series = read_csv(good)
    assert series.mailboxes == (10, 12) and series.times[1] == T0 + 10 * MIN
    bad = tmp_path / "bad.csv"
    for body, message in (
        ("2026-01-01T00:00Z,1\n2025-12-31T00:00Z,2\n", "line 2: 2025-12-31T00:00Z is not after"),
        ("yesterday,1\n", "line 1: 'yesterday' is not a time"),
        ("2026-01-01T00:00Z,-3\n", "line 1: a count cannot be negative (-3)"),
        ("2026-01-01T00:00Z\n", "line 1: expected timestamp,mailboxes"),
        ("timestamp,mailboxes\n", "has no rows"),
    ):
        bad.write_text(body)
        with pytest.raises(SeriesError, match=message.replace("(", r"\(").replace(")", r"\)")):
            read_csv(bad)


def test_resampling_holds_the_count_between_points():
    """One check a minute over points 5 minutes apart repeats each count."""
    s = Series(name="s", times=tuple(times(0, 5)), mailboxes=(1, 2)).resample(MIN)
    assert s.mailboxes == (1, 1, 1, 1, 1, 2) and s.step == MIN


def test_generators_are_reproducible_and_shaped():
    """Same seed, same series; a bulk import jumps once, two hours in."""
    a, b = generate("bulk-import", noise=0), generate("bulk-import", noise=0)
    assert a == b and len(a) == 289
    assert a.mailboxes[23:26] == (900, 4500, 4500)
    assert generate("churn", noise=0).mailboxes[144] == 4500  # noon of the first day


def test_profiles_are_validated_all_at_once():
    """Every bad profile and variant is reported in one error."""
    with pytest.raises(ConfigError) as caught:
        build_profiles(None, ["current", "bold"], ["MAX_WORKERS=0", "API_HOST=x", "oops"])
    problems = caught.value.problems
    assert len(problems) == 4
    assert problems[0].startswith("unknown profile 'bold'")
    assert "MAX_WORKERS=0: must be a whole number of at least 1" in problems[3]


def test_long_replays_show_a_progress_bar():
    """From PROGRESS_FROM checks a bar is drawn on a terminal; shorter replays draw none."""
    series = generate("steady", days=PROGRESS_FROM * 5 / 1440)
    profiles = build_profiles(None, ["current"], [])

    def drawn(s: Series) -> str:
        out = io.StringIO()
        console = Console(file=out, force_terminal=True, width=100)
        _replay_all(console, s, profiles, timedelta(0), None, replay)
        return out.getvalue()

    assert "replaying" in drawn(series)
    assert "replaying" not in drawn(generate("steady", days=1))


def test_durations():
    """Durations take s, m, min, h, d, or plain seconds."""
    assert parse_duration("90") == timedelta(seconds=90)
    assert parse_duration("5m") == parse_duration("5min") == timedelta(minutes=5)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
