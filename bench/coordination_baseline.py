"""The baseline of `bench.coordination`: the worker heartbeat as it was before issue 11.

A copy of the statements of `worker/leases.py` and `worker/registry.py` at e3ab56c, and of the
steps of `LeaseKeeper.heartbeat` then (register, prune, read the live workers, sync the leases
if oldest, renew every own lease, count the leases twice, claim), run on tables of their own
(`baseline_workers`, `baseline_leases`, the 0002 schema) in the same database as ours, so the
two are measured side by side in one run. PostgreSQL only; kept here, not in src/.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import TextClause, text

from warmup_autoscaler.store.database import Database, guarded, now_ms_sql

__all__ = ["BaselineKeeper", "create_baseline", "fill_baseline"]

WORKERS = "baseline_workers"
LEASES = "baseline_leases"

DDL = f"""
CREATE TABLE {WORKERS} (
    id VARCHAR(32) PRIMARY KEY, name VARCHAR(200) NOT NULL, host VARCHAR(255) NOT NULL,
    pid INTEGER NOT NULL, started_at BIGINT NOT NULL, heartbeat_at BIGINT NOT NULL,
    state VARCHAR(20) NOT NULL);
CREATE TABLE {LEASES} (
    mailbox_id BIGINT PRIMARY KEY, worker_id VARCHAR(32), expires_at BIGINT NOT NULL,
    epoch BIGINT NOT NULL);
CREATE INDEX ix_{LEASES}_worker_id ON {LEASES} (worker_id);
CREATE INDEX ix_{LEASES}_expires_at ON {LEASES} (expires_at);
"""

# Verbatim but for the table names; {now}: the database clock, {active}: the active query.
SQL: dict[str, str] = {
    "beat": f"""
        INSERT INTO {WORKERS} (id, name, host, pid, started_at, heartbeat_at, state)
        VALUES (:id, :name, :host, :pid, {{now}}, {{now}}, :state)
        ON CONFLICT (id) DO UPDATE
        SET heartbeat_at = excluded.heartbeat_at, state = excluded.state""",
    "prune": f"DELETE FROM {WORKERS} WHERE heartbeat_at <= {{now}} - :ttl_ms",
    "live_active_ids": f"""
        SELECT id FROM {WORKERS}
        WHERE state = 'active' AND heartbeat_at > {{now}} - :ttl_ms ORDER BY started_at, id""",
    "sync_insert": f"""
        INSERT INTO {LEASES} (mailbox_id, worker_id, expires_at, epoch)
        SELECT active.id, NULL, 0, {{now}} FROM ({{active}}) AS active
        WHERE active.id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM {LEASES} AS l WHERE l.mailbox_id = active.id)
        ON CONFLICT (mailbox_id) DO NOTHING""",
    "sync_delete": f"""
        DELETE FROM {LEASES} WHERE NOT EXISTS (
            SELECT 1 FROM ({{active}}) AS active WHERE active.id = {LEASES}.mailbox_id)""",
    "renew": f"""
        UPDATE {LEASES} SET expires_at = {{now}} + :ttl_ms
        WHERE worker_id = :worker_id AND expires_at > {{now}}
        RETURNING mailbox_id, epoch""",
    "counts": f"""
        SELECT (SELECT count(*) FROM {LEASES}),
               (SELECT count(*) FROM {LEASES} WHERE expires_at <= {{now}})""",
    "claim": f"""
        UPDATE {LEASES}
        SET worker_id = :worker_id, expires_at = {{now}} + :ttl_ms, epoch = epoch + 1
        WHERE mailbox_id IN (
            SELECT mailbox_id FROM {LEASES} WHERE expires_at <= {{now}}
            ORDER BY expires_at LIMIT :n FOR UPDATE SKIP LOCKED)
        RETURNING mailbox_id, epoch""",
}


def create_baseline(db: Database) -> None:
    with db.begin_write() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {LEASES}, {WORKERS}")
        for statement in DDL.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)


def fill_baseline(db: Database, workers: int, ttl_ms: int) -> list[str]:
    """The steady state of today's design: `workers` registered, each holding an even share of
    the active mailboxes (the rows of `mailboxes` with status active) under a fresh lease."""
    ids = [f"baseline{i:024d}" for i in range(workers)]
    now = now_ms_sql("postgresql")
    with db.begin_write() as conn:
        conn.execute(text("SET LOCAL statement_timeout = 0"))
        conn.execute(
            text(
                f"INSERT INTO {WORKERS} SELECT 'baseline' || lpad(i::text, 24, '0'), 'w' || i, "
                f"'bench', i, i, {now}, 'active' FROM generate_series(0, :n - 1) AS i"
            ),
            {"n": workers},
        )
        conn.execute(
            text(
                f"INSERT INTO {LEASES} SELECT id, 'baseline' || lpad("
                "((row_number() OVER (ORDER BY id) - 1) % :n)::text, 24, '0'), "
                f"{now} + :ttl_ms, 1 FROM mailboxes WHERE status = 'active'"
            ),
            {"n": workers, "ttl_ms": ttl_ms},
        )
    return ids


@dataclass(frozen=True, kw_only=True)
class BaselineTick:
    owned: int
    synced: bool


class BaselineKeeper:
    """One worker's heartbeat as `LeaseKeeper.heartbeat` did it before, each step its own
    transaction as then."""

    def __init__(
        self, db: Database, worker_id: str, *, ttl_ms: int, capacity: int, active_query: str
    ) -> None:
        self.db = db
        self.id = worker_id
        self.ttl_ms = ttl_ms
        self.capacity = capacity
        fill = {"now": now_ms_sql("postgresql"), "active": active_query}
        self._sql: dict[str, TextClause] = {n: text(s.format(**fill)) for n, s in SQL.items()}

    def heartbeat(self) -> BaselineTick:
        me, ttl = self.id, {"ttl_ms": self.ttl_ms}
        row = {"id": me, "name": me, "host": "bench", "pid": 0, "state": "active"}
        with guarded(self.db, "beat", write=True) as conn:
            conn.execute(self._sql["beat"], row)
        with guarded(self.db, "prune", write=True) as conn:
            conn.execute(self._sql["prune"], ttl)
        with guarded(self.db, "live", write=False) as conn:
            live = [str(r[0]) for r in conn.execute(self._sql["live_active_ids"], ttl)]
        synced = bool(live) and live[0] == me
        if synced:
            with guarded(self.db, "sync", write=True) as conn:
                conn.execute(self._sql["sync_insert"])
                conn.execute(self._sql["sync_delete"])
        with guarded(self.db, "renew", write=True) as conn:
            owned = len(conn.execute(self._sql["renew"], {"worker_id": me, **ttl}).all())
        with guarded(self.db, "counts", write=False) as conn:
            total, free = conn.execute(self._sql["counts"]).one()
        target = min(self.capacity, math.ceil(total / max(len(live), 1))) if total else 0
        if owned < target and free > 0:
            with guarded(self.db, "claim", write=True) as conn:
                params = {"worker_id": me, "n": target - owned, **ttl}
                owned += len(conn.execute(self._sql["claim"], params).all())
        return BaselineTick(owned=owned, synced=synced)
