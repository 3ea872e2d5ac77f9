"""The demo `mailboxes` table: create it, fill it fast, and set how many rows are active.

This stands in for the user's own data (for `db init --demo`, demos and tests); it is never part
of the migrations. Seeding uses COPY on PostgreSQL and batched executemany on SQLite, so a million
rows take seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Connection, func, insert, select, text, update

from warmup_autoscaler.errors import StoreError
from warmup_autoscaler.store.database import Database, driver_message, guarded
from warmup_autoscaler.store.schema import demo_metadata, mailboxes

__all__ = ["EMAIL_FORMAT", "create_demo_tables", "seed_mailboxes", "set_active_count"]

EMAIL_FORMAT = "mailbox-{:06d}@warmup.test"
HINT = "check DATABASE_URL and its permissions"
MISSING = "create it with `warmup-autoscaler db init --demo`"


def create_demo_tables(db: Database) -> None:
    """Create `mailboxes` (and its index) unless it exists."""
    with guarded(
        db, "creating the demo table 'mailboxes'", write=True, hint=HINT, missing=MISSING
    ) as conn:
        demo_metadata.create_all(conn)


def seed_mailboxes(
    db: Database,
    count: int,
    *,
    status: str = "active",
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Insert `count` new mailboxes numbered after the existing ones; returns how many.

    `progress` is called with the running total after each batch.
    """
    if count < 0 or batch_size < 1:
        raise ValueError("count must be >= 0 and batch_size >= 1")
    with guarded(
        db, "seeding the demo table 'mailboxes'", write=True, hint=HINT, missing=MISSING
    ) as conn:
        return _seed(conn, count, status, batch_size, progress)


def set_active_count(db: Database, n: int) -> None:
    """Make exactly `n` mailboxes 'active' (the lowest ids) and every other one 'paused'."""
    if n < 0:
        raise ValueError("n must be >= 0")
    doing = "setting the active mailboxes"
    with guarded(db, doing, write=True, hint=HINT, missing=MISSING) as conn:
        _lift_statement_timeout(conn)
        total = conn.execute(select(func.count()).select_from(mailboxes)).scalar_one()
        if total < n:
            _seed(conn, n - total, "active", 5000, None)
        cutoff = 0
        if n > 0:
            cutoff = conn.execute(
                select(mailboxes.c.id).order_by(mailboxes.c.id).offset(n - 1).limit(1)
            ).scalar_one()
        now = func.now()
        for wanted, rows in (
            ("active", mailboxes.c.id <= cutoff),
            ("paused", mailboxes.c.id > cutoff),
        ):
            conn.execute(
                update(mailboxes)
                .where(rows, mailboxes.c.status != wanted)
                .values(status=wanted, updated_at=now)
            )


def _seed(
    conn: Connection,
    count: int,
    status: str,
    batch_size: int,
    progress: Callable[[int], None] | None,
) -> int:
    start = conn.execute(select(func.coalesce(func.max(mailboxes.c.id), 0))).scalar_one() + 1
    batches = _batches(start, count, batch_size)
    if conn.dialect.name == "postgresql":
        _lift_statement_timeout(conn)
        return _copy(conn, batches, status, progress)
    done = 0
    for numbers in batches:
        conn.execute(
            insert(mailboxes),
            [{"email": EMAIL_FORMAT.format(i), "status": status} for i in numbers],
        )
        done += len(numbers)
        if progress is not None:
            progress(done)
    return done


def _copy(
    conn: Connection,
    batches: Iterator[range],
    status: str,
    progress: Callable[[int], None] | None,
) -> int:
    import psycopg

    raw: Any = conn.connection.driver_connection
    done = 0
    try:
        with raw.cursor() as cur, cur.copy("COPY mailboxes (email, status) FROM STDIN") as copy:
            for numbers in batches:
                for i in numbers:
                    copy.write_row((EMAIL_FORMAT.format(i), status))
                done += len(numbers)
                if progress is not None:
                    progress(done)
    except psycopg.Error as exc:  # COPY bypasses SQLAlchemy, so its errors come unwrapped
        raise StoreError(
            f"seeding the demo table 'mailboxes' failed: {driver_message(exc)}"
        ) from exc
    return done


def _lift_statement_timeout(conn: Connection) -> None:
    """Demo writes over millions of rows may outlast the count's timeout; lift it for them."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL statement_timeout = 0"))


def _batches(start: int, count: int, size: int) -> Iterator[range]:
    for first in range(start, start + count, size):
        yield range(first, min(first + size, start + count))
