"""One SQLAlchemy engine per process, set up so that failures are quick and readable.

PostgreSQL connections time out after 5 s and every statement after `query_timeout_ms`; a stopped
server fails fast and the pool recovers by itself when it is back (`pool_pre_ping`; the `reader`
engine of the mailbox count retries once instead). SQLite runs
in WAL mode with a busy timeout, and SQLAlchemy (not the sqlite3 module) emits BEGIN, so a
transaction really covers every statement in it, DDL included.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from warmup_autoscaler.errors import MissingTablesError, StoreError

__all__ = [
    "Database",
    "StatementDeadline",
    "cannot_connect_message",
    "driver_message",
    "failure_message",
    "guarded",
    "is_connection_failure",
    "missing_table",
    "now_ms_sql",
    "store_error",
]

# The database clock in epoch ms, as a scalar subquery: computed once per statement, and an index
# can compare against it. Worker liveness and leases use only this clock, never a host's.
NOW_MS = {
    "postgresql": "(SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint)",
    "sqlite": "(SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))",
}
OWN_TABLE_PREFIXES = ("autoscaler_", "warmup_")
DEFAULT_HINT = "check DATABASE_URL and the database user's permissions"
CONNECT_TIMEOUT_S = 5
SQLITE_PROGRESS_STEPS = 1000  # SQLite VM instructions between two deadline checks
WAL_SWITCH_RETRY_S = 0.01


class StatementDeadline:
    """Aborts the SQLite statements of one connection once `timeout_ms` has passed."""

    def __init__(self, timeout_ms: int) -> None:
        self.deadline = time.monotonic() + timeout_ms / 1000
        self.expired = False

    def __call__(self) -> int:
        if time.monotonic() >= self.deadline:
            self.expired = True
            return 1
        return 0


class Database:
    """Owns the engine for `url` (already normalized: sqlite:///... or postgresql+psycopg://...)."""

    def __init__(self, url: str, *, query_timeout_ms: int = 10_000) -> None:
        self.url = url
        self.query_timeout_ms = query_timeout_ms
        self._reader: Engine | None = None
        try:
            parsed = make_url(url)
            self._parsed: URL = parsed
            if parsed.get_backend_name() == "sqlite":
                self.engine = self._sqlite_engine(parsed)
            else:
                connect_args = {
                    "connect_timeout": CONNECT_TIMEOUT_S,
                    "options": f"-c statement_timeout={query_timeout_ms}",
                }
                self.engine = create_engine(
                    parsed,
                    pool_pre_ping=True,
                    pool_size=5,
                    max_overflow=5,
                    connect_args=connect_args,
                )
                self._reader = create_engine(
                    parsed,
                    isolation_level="AUTOCOMMIT",
                    pool_size=1,
                    max_overflow=2,
                    connect_args=connect_args,
                )
        except (SQLAlchemyError, ImportError, OSError, ValueError) as exc:
            raise StoreError(
                f"cannot use the database URL {self.safe_url}: {driver_message(exc)}; "
                "check DATABASE_URL"
            ) from exc

    @property
    def dialect_name(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @property
    def safe_url(self) -> str:
        """The URL with its password hidden, for messages and logs."""
        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except SQLAlchemyError:
            return "(unparsable URL)"

    @property
    def reader(self) -> Engine:
        """The engine for single statements that run often (the mailbox count, the heartbeat).

        On PostgreSQL a small pool of its own in autocommit without the pre-ping, which saves
        three round trips a statement (ping, BEGIN, ROLLBACK); its user must retry once on a
        stale connection instead (`DBAPIError.connection_invalidated`). On SQLite, the engine.
        """
        return self._reader or self.engine

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self._reader is not None:
            self._reader.dispose()

    @contextmanager
    def begin_write(self) -> Iterator[Connection]:
        """A transaction meant to write; on SQLite it takes the write lock at once (IMMEDIATE),
        so two writers queue on the busy timeout instead of failing on a stale snapshot."""
        with self.engine.connect() as conn:
            if self.dialect_name == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def statement_timeout(self, conn: Connection) -> Iterator[StatementDeadline]:
        """Bound the statements run on `conn` inside the block by `query_timeout_ms`.

        PostgreSQL already enforces it server-side (`statement_timeout`); on SQLite a progress
        handler aborts the running statement, and the yielded deadline tells that it expired.
        """
        deadline = StatementDeadline(self.query_timeout_ms)
        raw = conn.connection.driver_connection
        if not isinstance(raw, sqlite3.Connection):
            yield deadline
            return
        raw.set_progress_handler(deadline, SQLITE_PROGRESS_STEPS)
        try:
            yield deadline
        finally:
            raw.set_progress_handler(None, 0)

    def _sqlite_engine(self, parsed: URL) -> Engine:
        path = parsed.database
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        busy_ms = self.query_timeout_ms

        def on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself, see on_begin
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
                _enable_wal(cursor, busy_ms)
                cursor.execute("PRAGMA foreign_keys=ON")
            finally:
                cursor.close()

        def on_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "")
            conn.exec_driver_sql(f"BEGIN {mode}".strip())

        event.listen(engine, "connect", on_connect)
        event.listen(engine, "begin", on_begin)
        return engine


def _enable_wal(cursor: Any, busy_ms: int) -> None:
    """Switch the file to WAL (it stays so); SQLite reports a concurrent switch as locked at once,
    without waiting on the busy timeout, so wait here."""
    deadline = time.monotonic() + busy_ms / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(WAL_SWITCH_RETRY_S)


def driver_message(exc: BaseException) -> str:
    """The driver's own one-line message, without SQLAlchemy's SQL echo and links."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
    return lines[0] if lines else type(inner).__name__


_MISSING_TABLE = (
    re.compile(r'relation "([^"]+)" does not exist'),  # PostgreSQL
    re.compile(r"no such table: (\S+)"),  # SQLite
)


def missing_table(exc: BaseException) -> str | None:
    """The table a failed statement complained about, if it was a missing table."""
    message = driver_message(exc)
    for pattern in _MISSING_TABLE:
        found = pattern.search(message)
        if found:
            return found.group(1)
    return None


def is_connection_failure(exc: BaseException) -> bool:
    """Whether `exc` means the database could not be reached (rather than a statement failed)."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if hasattr(orig, "sqlstate"):  # psycopg: an error without SQLSTATE comes from the client side
        return getattr(orig, "sqlstate", None) is None and isinstance(exc, OperationalError)
    return getattr(orig, "sqlite_errorname", "") == "SQLITE_CANTOPEN"


def cannot_connect_message(db: Database, exc: BaseException) -> str:
    return (
        f"cannot connect to the database at {db.safe_url}: {driver_message(exc)}; "
        "check DATABASE_URL and that the server is running"
    )


def failure_message(db: Database, exc: BaseException, doing: str, hint: str) -> str:
    """'<doing> failed: <driver message>; <hint>', or the cannot-connect message."""
    if is_connection_failure(exc):
        return cannot_connect_message(db, exc)
    return f"{doing} failed: {driver_message(exc)}; {hint}"


def now_ms_sql(dialect: str) -> str:
    """The SQL expression for the database clock in epoch milliseconds."""
    return NOW_MS[dialect]


def store_error(
    db: Database,
    exc: SQLAlchemyError,
    doing: str,
    hint: str = DEFAULT_HINT,
    *,
    missing: str | None = None,
) -> StoreError:
    """The one wrapping of a driver error of the store: a missing table of ours says to run
    `db init` (another missing table says `missing`, when given), an unreachable server says so,
    anything else is '<doing> failed: <driver message>; <hint>'."""
    table = missing_table(exc)
    if table is not None and table.startswith(OWN_TABLE_PREFIXES):
        return MissingTablesError(
            f"{doing} failed: table '{table}' does not exist; run `warmup-autoscaler db init`"
        )
    if table is not None and missing is not None:
        return StoreError(f"{doing} failed: table '{table}' does not exist; {missing}")
    return StoreError(failure_message(db, exc, doing, hint))


@contextmanager
def guarded(
    db: Database,
    doing: str,
    *,
    write: bool,
    hint: str = DEFAULT_HINT,
    missing: str | None = None,
    single: bool = False,
) -> Iterator[Connection]:
    """A transaction (IMMEDIATE on SQLite when `write`) whose driver errors leave as
    `StoreError` naming what was being done (see `store_error`). With `single` (a block of one
    statement), PostgreSQL runs it in autocommit on the `reader` pool: one round trip, not four."""
    try:
        if single and db.dialect_name == "postgresql":
            with db.reader.connect() as conn:
                yield conn
            return
        with db.begin_write() if write else db.engine.begin() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise store_error(db, exc, doing, hint, missing=missing) from exc
