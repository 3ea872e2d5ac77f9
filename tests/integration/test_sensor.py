"""The mailbox counter against real SQLite and PostgreSQL, including its failures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.exc import SQLAlchemyError

from warmup_autoscaler.config import DEFAULT_QUERY
from warmup_autoscaler.errors import CountError
from warmup_autoscaler.sensor import MailboxCounter
from warmup_autoscaler.store import Database, create_demo_tables, set_active_count

if TYPE_CHECKING:
    from conftest import PgServer

SHAPE = "AUTO_SCALER_MAILBOX_QUERY must return one row whose first column is a whole number"


@pytest.fixture
def demo_db(db: Database) -> Database:
    create_demo_tables(db)
    set_active_count(db, 7)
    return db


def test_counts_active_mailboxes(demo_db: Database) -> None:
    """The default query counts the active rows, and follows changes."""
    counter = MailboxCounter(demo_db, DEFAULT_QUERY)
    assert counter.count() == 7
    set_active_count(demo_db, 3)
    assert counter.count() == 3


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT 0", 0),
        ("SELECT 5.0", 5),
        ("SELECT CAST(12 AS NUMERIC)", 12),
        ("SELECT 4, 'other columns are ignored'", 4),
        ("SELECT COUNT(*) FROM mailboxes WHERE status LIKE 'act%'", 7),
    ],
)
def test_accepts_whole_numbers(demo_db: Database, query: str, expected: int) -> None:
    """Integral numbers of any SQL type count; only the first column is read."""
    assert MailboxCounter(demo_db, query).count() == expected


@pytest.mark.parametrize(
    ("query", "returned"),
    [
        ("SELECT 'many'", "it returned 'many' (text), which is not a whole number"),
        ("SELECT 2.5", "which is not a whole number"),
        ("SELECT -3", "it returned -3, which is negative"),
        ("SELECT NULL", "it returned NULL (wrap it in COALESCE(..., 0) if it can be empty)"),
        ("SELECT id FROM mailboxes WHERE id < 0", "it returned no rows"),
        ("SELECT id FROM mailboxes", "it returned more than one row"),
    ],
)
def test_rejects_results_that_are_not_a_count(demo_db: Database, query: str, returned: str) -> None:
    """A result that is not one whole number >= 0 names the variable and what came back."""
    with pytest.raises(CountError) as caught:
        MailboxCounter(demo_db, query).count()
    assert caught.value.message.startswith(SHAPE)
    assert returned in caught.value.message


def test_missing_table_says_how_to_create_it(db: Database) -> None:
    """A missing table is named, with both ways out."""
    with pytest.raises(CountError) as caught:
        MailboxCounter(db, DEFAULT_QUERY).count()
    assert caught.value.message == (
        "the mailbox query failed: table 'mailboxes' does not exist; create it with "
        "`warmup-autoscaler db init --demo` or set AUTO_SCALER_MAILBOX_QUERY to a query on your "
        "table"
    )
    assert isinstance(caught.value.__cause__, SQLAlchemyError)


def test_broken_query_quotes_the_driver_in_one_line(demo_db: Database) -> None:
    """Other SQL errors quote the driver's first line and name the variable, no SQL echo."""
    with pytest.raises(CountError) as caught:
        MailboxCounter(demo_db, "SELECT COUNT(*) FROM mailboxes WHERE nope = 1").count()
    message = caught.value.message
    assert message.startswith("the mailbox query failed: ")
    assert "nope" in message and message.endswith("; check AUTO_SCALER_MAILBOX_QUERY")
    assert "\n" not in message and "[SQL:" not in message


def test_counter_recovers_after_a_failure(db: Database) -> None:
    """A failed count leaves the pool usable: the next count works once the table exists."""
    counter = MailboxCounter(db, DEFAULT_QUERY)
    with pytest.raises(CountError):
        counter.count()
    create_demo_tables(db)
    assert counter.count() == 0


@pytest.mark.postgres
def test_postgresql_statement_timeout(postgres_url: str) -> None:
    """A PostgreSQL query running past the timeout is cancelled and names the variable."""
    db = Database(postgres_url, query_timeout_ms=200)
    try:
        counter = MailboxCounter(db, "SELECT COUNT(*) FROM pg_sleep(2)")
        with pytest.raises(CountError, match="AUTO_SCALER_QUERY_TIMEOUT_MS=200 ms"):
            counter.count()
        assert MailboxCounter(db, "SELECT 1").count() == 1
    finally:
        db.dispose()


def test_sqlite_statement_timeout(sqlite_url: str) -> None:
    """A runaway SQLite query is interrupted at the timeout and names the variable."""
    db = Database(sqlite_url, query_timeout_ms=200)
    try:
        endless = (
            "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT COUNT(*) FROM r"
        )
        with pytest.raises(CountError, match="AUTO_SCALER_QUERY_TIMEOUT_MS=200 ms"):
            MailboxCounter(db, endless).count()
        assert MailboxCounter(db, "SELECT 1").count() == 1
    finally:
        db.dispose()


def test_sqlite_file_that_cannot_be_opened(tmp_path: Path) -> None:
    """A SQLite path that cannot be opened is a connection error naming DATABASE_URL."""
    db = Database(f"sqlite:///{tmp_path}")  # a directory
    try:
        with pytest.raises(CountError, match="check DATABASE_URL and that the server is running"):
            MailboxCounter(db, "SELECT 1").count()
    finally:
        db.dispose()


def test_stopped_server_fails_fast_and_recovers(pg_server: PgServer, postgres_url: str) -> None:
    """With the server down the count fails naming DATABASE_URL (password hidden); it recovers."""
    url = postgres_url.replace("postgres@", "postgres:s3cret@")
    db = Database(url)
    try:
        counter = MailboxCounter(db, "SELECT 42")
        assert counter.count() == 42
        pg_server.stop()
        try:
            with pytest.raises(CountError) as caught:
                counter.count()
        finally:
            pg_server.start()
        message = caught.value.message
        assert message.startswith(f"cannot connect to the database at {db.safe_url}: ")
        assert message.endswith("; check DATABASE_URL and that the server is running")
        assert "s3cret" not in message and "***" in message
        assert counter.count() == 42
    finally:
        db.dispose()


def test_count_after_a_server_restart_needs_no_failed_check(
    pg_server: PgServer, postgres_url: str
) -> None:
    """The count's pooled connection goes stale when the server restarts between two checks; the
    counter notices and retries once on a fresh connection, so the next check just works."""
    db = Database(postgres_url)
    try:
        counter = MailboxCounter(db, "SELECT 42")
        assert counter.count() == 42
        pg_server.stop()
        pg_server.start()
        assert counter.count() == 42
    finally:
        db.dispose()
