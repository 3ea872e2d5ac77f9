"""The worker runtime's tables: the worker registry, mailbox leases and the warmup-cycle record.

Every time here is epoch milliseconds read from the DATABASE's clock (never a worker's), so workers
on several hosts agree on who is alive and whose lease has expired. Migration 0002 creates them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from warmup_autoscaler.store.schema import BigId

__all__ = ["leases", "warmup_cycles", "worker_metadata", "workers"]

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
    Column("state", String(20), nullable=False),  # active | draining
)

leases = Table(
    "autoscaler_leases",
    worker_metadata,
    Column("mailbox_id", BigInteger, primary_key=True, autoincrement=False),
    Column("worker_id", String(32), nullable=True),  # NULL: owned by nobody
    Column("expires_at", BigInteger, nullable=False),  # epoch ms; 0 when worker_id is NULL
    Column("epoch", BigInteger, nullable=False),  # fencing token, +1 on every claim
    Index("ix_autoscaler_leases_worker_id", "worker_id"),
    Index("ix_autoscaler_leases_expires_at", "expires_at"),
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
