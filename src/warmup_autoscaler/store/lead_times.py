"""Measured scale-up lead times: from a scale-up to the worker registry showing its workers live.

Predictive scaling forecasts over this time (plus the check interval). Only the newest
`KEEP_LEAD_TIMES` rows are kept; the lead time in use is the median of the newest `MEDIAN_OF`.
Migration 0007 creates the table.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, Float, Integer, MetaData, Table, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from warmup_autoscaler.errors import StoreError
from warmup_autoscaler.store.database import Database, failure_message
from warmup_autoscaler.store.schema import BigId, UTCDateTime

__all__ = [
    "KEEP_LEAD_TIMES",
    "MEDIAN_OF",
    "LeadTime",
    "LeadTimeStore",
    "lead_time_metadata",
    "lead_times",
]

KEEP_LEAD_TIMES = 100
MEDIAN_OF = 10

lead_time_metadata = MetaData()

lead_times = Table(
    "autoscaler_lead_times",
    lead_time_metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("scaled_at", UTCDateTime(), nullable=False, index=True),
    Column("ready_at", UTCDateTime(), nullable=False),
    Column("from_workers", Integer, nullable=False),
    Column("to_workers", Integer, nullable=False),
    Column("lead_ms", Float, nullable=False),
)


@dataclass(frozen=True, kw_only=True)
class LeadTime:
    scaled_at: datetime
    ready_at: datetime
    from_workers: int
    to_workers: int

    @property
    def lead(self) -> timedelta:
        return max(self.ready_at - self.scaled_at, timedelta(0))


class LeadTimeStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, measured: LeadTime) -> None:
        """Add a measurement and drop all but the newest `KEEP_LEAD_TIMES`."""
        values = {
            "scaled_at": measured.scaled_at,
            "ready_at": measured.ready_at,
            "from_workers": measured.from_workers,
            "to_workers": measured.to_workers,
            "lead_ms": measured.lead.total_seconds() * 1000,
        }
        try:
            with self.db.begin_write() as conn:
                conn.execute(insert(lead_times).values(values))
                keep = select(lead_times.c.id).order_by(lead_times.c.id.desc())
                keep = keep.limit(KEEP_LEAD_TIMES)
                conn.execute(
                    delete(lead_times).where(lead_times.c.id.not_in(keep.scalar_subquery()))
                )
        except SQLAlchemyError as exc:
            raise self._error(exc, "recording a scale-up lead time") from exc

    def recent(self, limit: int = MEDIAN_OF) -> list[timedelta]:
        """The newest `limit` lead times, newest first."""
        query = select(lead_times.c.lead_ms).order_by(lead_times.c.id.desc()).limit(limit)
        try:
            with self.db.engine.connect() as conn:
                rows = conn.execute(query).scalars().all()
        except SQLAlchemyError as exc:
            raise self._error(exc, "reading scale-up lead times") from exc
        return [timedelta(milliseconds=ms) for ms in rows]

    def typical(self) -> timedelta | None:
        """The median of the newest `MEDIAN_OF` lead times; None before the first one."""
        recent = [lead.total_seconds() for lead in self.recent()]
        return timedelta(seconds=statistics.median(recent)) if recent else None

    def _error(self, exc: SQLAlchemyError, doing: str) -> StoreError:
        hint = "check DATABASE_URL, and run `warmup-autoscaler db init` if the tables are missing"
        return StoreError(failure_message(self.db, exc, doing, hint))
