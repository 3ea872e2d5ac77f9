"""Where a simulation's counts come from: built-in generators, a CSV file, the stored samples.

A series is points (time, mailboxes) in time order; each point is one check, and its count holds
until the next point. Generated series are reproducible: they start on a fixed date and their noise
comes from a seeded generator.
"""

from __future__ import annotations

import csv
import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from warmup_autoscaler.errors import SeriesError
from warmup_autoscaler.store.history import SampleRecord

__all__ = [
    "DEFAULT_STEP",
    "GENERATORS",
    "MAX_HISTORY_POINTS",
    "SEED_TIMELINE",
    "START",
    "Series",
    "from_samples",
    "generate",
    "read_csv",
]

START = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_STEP = timedelta(minutes=5)  # the default check interval
MAX_HISTORY_POINTS = 100_000  # stored samples replayed at most (thinned evenly past this)
# The seed's "Example Scaling Timeline": (day, mailboxes); "Later" is taken as day 60.
SEED_TIMELINE = ((1, 48), (10, 500), (15, 850), (30, 1800), (45, 3200), (60, 1200))


@dataclass(frozen=True, kw_only=True)
class Series:
    name: str
    times: tuple[datetime, ...]
    mailboxes: tuple[int, ...]
    workers: tuple[int | None, ...] | None = None  # what the fleet had (stored samples only)

    def __post_init__(self) -> None:
        if not self.times:
            raise SeriesError(f"{self.name}: no points to simulate")
        if len(self.times) != len(self.mailboxes):
            raise SeriesError(f"{self.name}: as many times as counts are needed")
        for a, b in itertools.pairwise(self.times):
            if b <= a:
                raise SeriesError(f"{self.name}: times must increase ({a} then {b})")

    def __len__(self) -> int:
        return len(self.times)

    @property
    def step(self) -> timedelta:
        """The usual time between two points (the median), taken as the check interval."""
        gaps = sorted(b - a for a, b in itertools.pairwise(self.times))
        return gaps[(len(gaps) - 1) // 2] if gaps else DEFAULT_STEP

    @property
    def duration(self) -> timedelta:
        return self.times[-1] - self.times[0]

    def resample(self, step: timedelta) -> Series:
        """One point every `step` from the first to the last, each with the count then held."""
        if step <= timedelta(0):
            raise SeriesError("the step must be longer than 0")
        times, counts, workers = [], [], []
        i, t = 0, self.times[0]
        while t <= self.times[-1]:
            while i + 1 < len(self.times) and self.times[i + 1] <= t:
                i += 1
            times.append(t)
            counts.append(self.mailboxes[i])
            workers.append(self.workers[i] if self.workers else None)
            t += step
        return Series(
            name=self.name,
            times=tuple(times),
            mailboxes=tuple(counts),
            workers=tuple(workers) if self.workers else None,
        )


# --- generators -----------------------------------------------------------------------------

Shape = Callable[[float, float, float], float]  # (fraction of the series, low, high) -> count


def _growth(x: float, low: float, high: float) -> float:
    return low + (high - low) * x


def _bulk_import(x: float, low: float, high: float) -> float:
    return low if x < 1 / 12 else high  # two hours of a day before the import lands


def _steady(x: float, low: float, high: float) -> float:
    return low


@dataclass(frozen=True, kw_only=True)
class Generator:
    description: str
    low: int
    high: int
    days: float
    shape: Shape | None  # None: a daily cycle (churn)


GENERATORS: dict[str, Generator] = {
    "growth": Generator(
        description="steady growth from LOW to HIGH", low=500, high=5000, days=7, shape=_growth
    ),
    "bulk-import": Generator(
        description="LOW, then HIGH at once two hours in (a bulk import)",
        low=900,
        high=4500,
        days=1,
        shape=_bulk_import,
    ),
    "churn": Generator(
        description="a daily cycle between LOW (at midnight) and HIGH (at noon)",
        low=1500,
        high=4500,
        days=7,
        shape=None,
    ),
    "steady": Generator(description="a steady LOW", low=2500, high=2500, days=7, shape=_steady),
    "seed-timeline": Generator(
        description="the seed's example timeline, one check per line (days 1-60)",
        low=48,
        high=3200,
        days=60,
        shape=None,
    ),
}


def generate(
    kind: str,
    *,
    low: int | None = None,
    high: int | None = None,
    days: float | None = None,
    step: timedelta = DEFAULT_STEP,
    noise: float = 0.01,
    seed: int = 12,
) -> Series:
    """A generated series; `noise` is the standard deviation of a multiplicative jitter."""
    if kind not in GENERATORS:
        raise SeriesError(f"unknown generator {kind!r}: choose one of {', '.join(GENERATORS)}")
    if kind == "seed-timeline":
        return Series(
            name="seed-timeline",
            times=tuple(START + timedelta(days=d) for d, _ in SEED_TIMELINE),
            mailboxes=tuple(m for _, m in SEED_TIMELINE),
        )
    g = GENERATORS[kind]
    lo, hi = (g.low if low is None else low), (g.high if high is None else high)
    length = timedelta(days=g.days if days is None else days)
    if lo < 0 or hi < 0 or length <= timedelta(0) or step <= timedelta(0) or noise < 0:
        raise SeriesError("counts must be 0 or more, and the length, step and noise positive")
    rng = random.Random(seed)
    points = int(length / step) + 1
    times, counts = [], []
    for i in range(points):
        at = START + i * step
        x = i / max(points - 1, 1)
        if g.shape is None:
            day = (at - START) / timedelta(days=1)
            base = lo + (hi - lo) * (1 - math.cos(2 * math.pi * day)) / 2
        else:
            base = g.shape(x, lo, hi)
        times.append(at)
        counts.append(max(0, round(base * (1 + rng.gauss(0, noise)))))
    return Series(name=kind, times=tuple(times), mailboxes=tuple(counts))


# --- files and the store ---------------------------------------------------------------------


def _parse_time(text: str) -> datetime:
    text = text.strip()
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def read_csv(path: Path) -> Series:
    """`timestamp,mailboxes` rows (a header line is optional): ISO 8601 times (UTC when no zone
    is given) or Unix seconds, and whole counts, in time order."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeriesError(f"cannot read {path}: {exc}") from exc
    times: list[datetime] = []
    counts: list[int] = []
    for line, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip():
            continue
        if line == 1 and row[0].strip().lower() in ("timestamp", "time", "t"):
            continue
        if len(row) != 2:
            raise SeriesError(f"{path} line {line}: expected timestamp,mailboxes, got {row!r}")
        try:
            at = _parse_time(row[0])
        except (ValueError, OverflowError, OSError):
            raise SeriesError(
                f"{path} line {line}: {row[0].strip()!r} is not a time "
                "(use ISO 8601, e.g. 2026-01-15T12:00:00Z, or Unix seconds)"
            ) from None
        try:
            count = int(row[1].strip())
        except ValueError:
            raise SeriesError(
                f"{path} line {line}: {row[1].strip()!r} is not a whole number of mailboxes"
            ) from None
        if count < 0:
            raise SeriesError(f"{path} line {line}: a count cannot be negative ({count})")
        if times and at <= times[-1]:
            raise SeriesError(
                f"{path} line {line}: {row[0].strip()} is not after the previous row's time "
                "(rows must be in time order, one per time)"
            )
        times.append(at)
        counts.append(count)
    if not times:
        raise SeriesError(f"{path} has no rows: expected timestamp,mailboxes lines")
    return Series(name=path.name, times=tuple(times), mailboxes=tuple(counts))


def from_samples(samples: Sequence[SampleRecord], name: str) -> Series:
    """The stored samples that have a count (a failed count leaves none), one per check."""
    kept: list[SampleRecord] = []
    for s in samples:
        if s.mailboxes is None:
            continue
        if kept and s.sampled_at <= kept[-1].sampled_at:
            continue  # two checks in the same instant: the first one stands
        kept.append(s)
    if not kept:
        raise SeriesError(f"no stored samples in the {name}: the daemon records one per check")
    return Series(
        name=name,
        times=tuple(s.sampled_at for s in kept),
        mailboxes=tuple(int(s.mailboxes or 0) for s in kept),
        workers=tuple(s.workers for s in kept),
    )
