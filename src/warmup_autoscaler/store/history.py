"""What happened over time: one sample per check for the charts, the journal read back, retention.

Reads are bounded: samples over a window are thinned to at most `max_points` rows in SQL, and the
journal is paged by id, so a month of 1-second checks never reaches the process whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, select

from warmup_autoscaler.store.database import Database, guarded
from warmup_autoscaler.store.schema import checks, samples
from warmup_autoscaler.store.state import CheckRecord

__all__ = ["HistoryStore", "SampleRecord"]

SCALE_ACTIONS = ("scale-up", "scale-down")


@dataclass(frozen=True, kw_only=True)
class SampleRecord:
    sampled_at: datetime
    mailboxes: int | None
    workers: int | None
    capacity: int | None
    utilization_percent: float | None
    backlog: int | None = None


HINT = "check DATABASE_URL and the database user's permissions"
_SAMPLE_FIELDS = [f.name for f in fields(SampleRecord)]
_CHECK_FIELDS = [f.name for f in fields(CheckRecord)]


class HistoryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record_sample(self, sample: SampleRecord) -> None:
        values = {name: getattr(sample, name) for name in _SAMPLE_FIELDS}
        with guarded(self.db, "writing a sample", write=True, hint=HINT) as conn:
            conn.execute(insert(samples).values(values))

    def samples(
        self, since: datetime, until: datetime, max_points: int = 500
    ) -> list[SampleRecord]:
        """Samples in [since, until], oldest first, thinned evenly to at most `max_points`."""
        window = (samples.c.sampled_at >= since) & (samples.c.sampled_at <= until)
        with guarded(self.db, "reading samples", write=False, hint=HINT) as conn:
            total = conn.execute(select(func.count()).where(window)).scalar_one()
            query = select(*[samples.c[f] for f in _SAMPLE_FIELDS]).where(window)
            step = math.ceil(total / max_points) if total > max_points else 1
            if step > 1:
                query = query.where(samples.c.id % step == 0)
            rows = conn.execute(query.order_by(samples.c.sampled_at)).all()
        return [SampleRecord(**dict(zip(_SAMPLE_FIELDS, row, strict=True))) for row in rows]

    def checks(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        actions: tuple[str, ...] = (),
        executed_only: bool = False,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[CheckRecord]:
        """Journaled checks, newest first, filtered; page with `before_id` (the last id seen)."""
        query: Select[Any] = select(*[checks.c[f] for f in _CHECK_FIELDS])
        if since is not None:
            query = query.where(checks.c.checked_at >= since)
        if until is not None:
            query = query.where(checks.c.checked_at <= until)
        if actions:
            query = query.where(checks.c.action.in_(actions))
        if executed_only:
            query = query.where(checks.c.executed.is_(True))
        if before_id is not None:
            query = query.where(checks.c.id < before_id)
        query = query.order_by(checks.c.id.desc()).limit(limit)
        with guarded(self.db, "reading the decision journal", write=False, hint=HINT) as conn:
            rows = conn.execute(query).all()
        return [CheckRecord(**dict(zip(_CHECK_FIELDS, row, strict=True))) for row in rows]

    def scale_events(
        self, since: datetime, until: datetime, limit: int = 1000
    ) -> list[CheckRecord]:
        """Executed scale-ups and scale-downs in the window, newest first."""
        return self.checks(
            since=since, until=until, actions=SCALE_ACTIONS, executed_only=True, limit=limit
        )

    def prune(self, older_than: datetime) -> int:
        """Delete samples and journaled checks older than `older_than`; returns rows deleted."""
        with guarded(self.db, "pruning history", write=True, hint=HINT) as conn:
            a = conn.execute(delete(samples).where(samples.c.sampled_at < older_than))
            b = conn.execute(delete(checks).where(checks.c.checked_at < older_than))
        return int(a.rowcount or 0) + int(b.rowcount or 0)
