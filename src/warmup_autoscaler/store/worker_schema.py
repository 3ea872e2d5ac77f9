"""The worker runtime's tables: the registry, the fleet row, mailbox leases and the cycle record.

Every time here is epoch milliseconds read from the DATABASE's clock (never a worker's), so workers
on several hosts agree on who is alive. A lease is valid while its owner's registration is
(`autoscaler_workers.expires_at`), so a heartbeat renews one row, not one per mailbox; see
`store.leases` for the design. Migrations 0002 and 0007 create these tables; the statements of
the store take the table names from here.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TextClause,
    false,
    text,
)

from warmup_autoscaler.store.database import now_ms_sql
from warmup_autoscaler.store.schema import BigId

__all__ = [
    "FLEET_ROW",
    "fleet",
    "leases",
    "warmup_cycles",
    "worker_metadata",
    "worker_sql",
    "workers",
]

FLEET_ROW = 1  # the one row of `autoscaler_fleet`

worker_metadata = MetaData()

workers = Table(
    "autoscaler_workers",
    worker_metadata,
    Column("id", String(32), primary_key=True),  # uuid4 hex, chosen by the worker at start
    Column("name", String(200), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", BigInteger, nullable=False),  # epoch ms, database clock
    Column("heartbeat_at", BigInteger, nullable=False),  # epoch ms, database clock
    Column("expires_at", BigInteger, nullable=False, server_default="0"),  # heartbeat + its TTL
    Column("state", String(20), nullable=False),  # active | draining
    Column("owned", Integer, nullable=False, server_default="0"),  # lease rows naming it
)

fleet = Table(
    "autoscaler_fleet",
    worker_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always FLEET_ROW
    Column("members", BigInteger, nullable=False),  # +1 on every join, leave, drain or prune
    Column("mailboxes", BigInteger, nullable=False),  # lease rows not retired, as last synced
    Column("synced_at", BigInteger, nullable=False),  # epoch ms when the last sync ended
    Column("sync_ms", Integer, nullable=False),  # how long the last sync took
    Column("sync_due_at", BigInteger, nullable=False),  # epoch ms from which the next may start
)

leases = Table(
    "autoscaler_leases",
    worker_metadata,
    Column("mailbox_id", BigInteger, primary_key=True, autoincrement=False),
    Column(
        "worker_id",
        String(32),
        ForeignKey(
            "autoscaler_workers.id", ondelete="SET NULL", name="fk_autoscaler_leases_worker_id"
        ),
        nullable=True,  # NULL: owned by nobody (pruning or deregistering a worker sets it)
    ),
    Column("epoch", BigInteger, nullable=False),  # fencing token, +1 on every change of owner
    Column("retired", Boolean, nullable=False, server_default=false()),  # mailbox gone inactive
    Index("ix_autoscaler_leases_worker_id", "worker_id"),
    Index(
        "ix_autoscaler_leases_free",
        "mailbox_id",
        postgresql_where=text("worker_id IS NULL AND NOT retired"),
        sqlite_where=text("worker_id IS NULL AND NOT retired"),
    ),
    Index(
        "ix_autoscaler_leases_retired",
        "worker_id",
        postgresql_where=text("retired"),
        sqlite_where=text("retired"),
    ),
)

warmup_cycles = Table(
    "warmup_cycles",
    worker_metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("mailbox_id", BigInteger, nullable=False),
    Column("worker_id", String(32), nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("started_at", BigInteger, nullable=False),  # epoch ms, database clock
    Column("finished_at", BigInteger, nullable=False),  # epoch ms, database clock
    Column("outcome", String(40), nullable=False),  # the job's word for it; `record` writes "ok"
    Column("detail", Text, nullable=True),
    Index("ix_warmup_cycles_mailbox_id_started_at", "mailbox_id", "started_at"),
)


def worker_sql(sql: str, dialect: str, **extra: str) -> TextClause:
    """`sql` with {workers}, {leases}, {fleet}, {cycles} named from the tables above, {row} the
    fleet row, {now} the database clock in epoch ms, and any `extra` fragments filled in."""
    names = {
        "workers": workers.name,
        "leases": leases.name,
        "fleet": fleet.name,
        "cycles": warmup_cycles.name,
    }
    return text(sql.format(now=now_ms_sql(dialect), row=FLEET_ROW, **names, **extra))
