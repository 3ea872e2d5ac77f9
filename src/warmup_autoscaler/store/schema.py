"""The auto-scaler's own tables, and the demo `mailboxes` table kept apart from them.

`metadata` is what the migrations create (prefixed `autoscaler_`, since the auto-scaler shares the
user's database); `demo_metadata` is user data that only `db init --demo` and the tests create.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
    func,
)

__all__ = [
    "DEFAULT_SCALER",
    "UTCDateTime",
    "checks",
    "demo_metadata",
    "leader",
    "mailboxes",
    "metadata",
    "samples",
    "state",
]

DEFAULT_SCALER = "default"
BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER PKs only


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware in UTC.

    SQLite keeps no zone (it would drop an offset without converting), so values are converted to
    UTC before they are written; naive values, from SQLite or from a caller, are taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else _as_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else _as_utc(value)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


metadata = MetaData()

state = Table(
    "autoscaler_state",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("last_scale_up_at", UTCDateTime(), nullable=True),
    Column("last_scale_down_at", UTCDateTime(), nullable=True),
    # The worker count the scaler last set, so a platform the daemon supervises (local) resumes it.
    Column("workers", Integer, nullable=True),
    # A pause set through the API: until `paused_until`, or until resumed when that is null.
    Column("paused_at", UTCDateTime(), nullable=True),
    Column("paused_until", UTCDateTime(), nullable=True),
    Column("pause_reason", Text, nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False, server_default=func.now()),
)

checks = Table(
    "autoscaler_checks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("checked_at", UTCDateTime(), nullable=False, index=True),
    Column("trigger", String(20), nullable=False),  # startup | interval | api | change | elected
    Column("mailbox_count", BigInteger, nullable=True),
    Column("current_workers", Integer, nullable=True),
    Column("target_workers", Integer, nullable=True),
    Column("optimal_workers", Integer, nullable=True),
    Column("action", String(20), nullable=True),  # scale-up | scale-down | no-change
    Column("reason", Text, nullable=True),
    Column("utilization_percent", Float, nullable=True),
    Column("executed", Boolean, nullable=False, server_default=false()),
    Column("error", Text, nullable=True),
    Column("duration_ms", Float, nullable=True),
    Column("skipped", String(20), nullable=True),  # disabled | dry-run | paused | not-leader
    # The auto-scaler instance that ran the check, and its leadership term (null: a dry-run shadow).
    Column("instance", String(100), nullable=True),
    Column("term", BigInteger, nullable=True),
)

# The leader's lease: one row per scaler name. Times are epoch ms on the DATABASE's clock; `term`
# grows by one each time the lease is taken, so a write fenced by (holder, term) fails once the
# lease has passed to another instance (see `warmup_autoscaler.store.leader`).
leader = Table(
    "autoscaler_leader",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(100), nullable=True),  # the leading instance; null when released
    Column("term", BigInteger, nullable=False, server_default="0"),
    Column("expires_at", BigInteger, nullable=False, server_default="0"),
    Column("acquired_at", BigInteger, nullable=False, server_default="0"),  # when `term` began
    Column("renewed_at", BigInteger, nullable=False, server_default="0"),
)

samples = Table(
    "autoscaler_samples",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("sampled_at", UTCDateTime(), nullable=False, index=True),
    Column("mailboxes", BigInteger, nullable=True),
    Column("workers", Integer, nullable=True),
    Column("capacity", BigInteger, nullable=True),
    Column("utilization_percent", Float, nullable=True),
    Column("backlog", Integer, nullable=True),
)

demo_metadata = MetaData()

mailboxes = Table(
    "mailboxes",
    demo_metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("status", String(20), nullable=False, server_default="active", index=True),
    Column("created_at", UTCDateTime(), nullable=False, server_default=func.now()),
    Column("updated_at", UTCDateTime(), nullable=False, server_default=func.now()),
)
