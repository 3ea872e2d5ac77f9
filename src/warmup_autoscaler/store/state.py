"""The scaler's memory across restarts (cooldown times) and its decision journal.

Every datetime read back is timezone-aware UTC. Every driver failure surfaces as `StoreError`
with the driver's one-line message, so the controller can keep checks in memory and retry.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Executable, insert, select

from warmup_autoscaler.errors import StoreError
from warmup_autoscaler.store.database import Database, guarded
from warmup_autoscaler.store.leader import Term, check_fence
from warmup_autoscaler.store.schema import DEFAULT_SCALER, checks, state

__all__ = ["CheckRecord", "ScalerState", "StateStore"]


@dataclass(frozen=True, kw_only=True)
class ScalerState:
    last_scale_up_at: datetime | None
    last_scale_down_at: datetime | None
    workers: int | None = None  # the count the scaler last set
    paused_at: datetime | None = None
    paused_until: datetime | None = None  # None with paused_at set: paused until resumed
    pause_reason: str | None = None

    def paused(self, now: datetime) -> bool:
        """Whether scaling is paused at `now`."""
        if self.paused_at is None:
            return False
        return self.paused_until is None or now < self.paused_until


@dataclass(frozen=True, kw_only=True)
class CheckRecord:
    """One check as journaled: what was counted, decided and done (or the error that stopped it)."""

    checked_at: datetime
    trigger: str  # startup | interval | api | change | elected
    mailbox_count: int | None = None
    current_workers: int | None = None
    target_workers: int | None = None
    optimal_workers: int | None = None
    action: str | None = None  # scale-up | scale-down | no-change
    reason: str | None = None
    utilization_percent: float | None = None
    executed: bool = False
    error: str | None = None
    duration_ms: float | None = None
    skipped: str | None = None  # why not executed: disabled | dry-run | paused | not-leader
    instance: str | None = None  # the auto-scaler instance that ran the check
    term: int | None = None  # its leadership term (None: not elected, e.g. a dry-run shadow)
    id: int | None = None  # set once journaled


_STATE_FIELDS = [f.name for f in fields(ScalerState)]
_CHECK_FIELDS = [c.name for c in checks.columns if c.name != "id"]


class StateStore:
    """Reads and writes the state row `name` and the shared journal."""

    def __init__(self, db: Database, name: str = DEFAULT_SCALER) -> None:
        self.db = db
        self.name = name

    def load(self) -> ScalerState:
        """The saved cooldown times; both None when nothing was saved yet."""
        query = select(*[state.c[f] for f in _STATE_FIELDS]).where(state.c.name == self.name)
        with guarded(self.db, "loading the scaler state", write=False) as conn:
            row = conn.execute(query).first()
        if row is None:
            return ScalerState(last_scale_up_at=None, last_scale_down_at=None)
        return ScalerState(**dict(zip(_STATE_FIELDS, row, strict=True)))

    def save(self, new: ScalerState, fence: Term | None = None) -> None:
        """Insert or replace the state row; with `fence`, only while that term still leads (else
        `NotLeaderError`, and nothing is written)."""
        values: dict[str, Any] = {
            "name": self.name,
            **{f: getattr(new, f) for f in _STATE_FIELDS},
            "updated_at": datetime.now(UTC),
        }
        with guarded(self.db, "saving the scaler state", write=True) as conn:
            if fence is not None:
                check_fence(conn, self.db.dialect_name, fence)
            conn.execute(_upsert_state(self.db.dialect_name, values))

    def record_check(self, rec: CheckRecord) -> int:
        """Append `rec` to the journal; returns its id."""
        values = {name: getattr(rec, name) for name in _CHECK_FIELDS}
        with guarded(self.db, "writing the decision journal", write=True) as conn:
            key = conn.execute(insert(checks).values(values)).inserted_primary_key
        if key is None:
            raise StoreError("writing the decision journal failed: the database returned no id")
        return int(key[0])


def _upsert_state(dialect: str, values: dict[str, Any]) -> Executable:
    # Each dialect imported only when it is the database's (it is loaded then anyway): the
    # PostgreSQL one is 2 MB of a daemon on SQLite.
    changed = [k for k in values if k != "name"]
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        pg = postgresql.insert(state).values(values)
        return pg.on_conflict_do_update(
            index_elements=[state.c.name], set_={k: pg.excluded[k] for k in changed}
        )
    from sqlalchemy.dialects import sqlite

    lite = sqlite.insert(state).values(values)
    return lite.on_conflict_do_update(
        index_elements=[state.c.name], set_={k: lite.excluded[k] for k in changed}
    )
