"""The sensor: counts the active mailboxes with the user's SQL query.

The query must return one row whose first column is a whole number of 0 or more (an integral
Decimal or float is accepted; other columns are ignored). It runs under the statement timeout, on
a pooled connection. Every failure is a `CountError` saying what to change, never a driver error,
so the controller never scales on a count it does not have.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from warmup_autoscaler.config import DatabaseSettings
from warmup_autoscaler.errors import CountError
from warmup_autoscaler.store.database import (
    Database,
    cannot_connect_message,
    driver_message,
    is_connection_failure,
    missing_table,
)

__all__ = ["MailboxCounter"]

QUERY_VAR = DatabaseSettings.env_name("mailbox_query")
TIMEOUT_VAR = DatabaseSettings.env_name("query_timeout_ms")
PG_QUERY_CANCELED = "57014"


class MailboxCounter:
    """Runs `query` (a SELECT; write a literal colon before a word as `\\:`) to count mailboxes."""

    def __init__(self, db: Database, query: str) -> None:
        self.db = db
        self.query = query
        self._statement = text(query)

    def count(self) -> int:
        """The number of active mailboxes; raises `CountError`."""
        try:
            return self._value(self._rows())
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        # A pooled connection had gone stale (the server restarted): the pool has dropped them
        # all, and a fresh connection either works or fails to connect, with the usual message.
        return self._value(self._rows(retrying=True))

    def _rows(self, *, retrying: bool = False) -> Sequence[Sequence[Any]] | None:
        try:
            conn = self.db.reader.connect()
        except SQLAlchemyError as exc:
            raise CountError(cannot_connect_message(self.db, exc)) from exc
        with conn, self.db.statement_timeout(conn) as deadline:
            try:
                result = conn.execute(self._statement)
                rows = result.fetchmany(2) if result.returns_rows else None
                result.close()
            except DBAPIError as exc:
                if exc.connection_invalidated and not retrying:
                    raise
                raise CountError(self._failure(exc, timed_out=deadline.expired)) from exc
            except SQLAlchemyError as exc:
                raise CountError(self._failure(exc, timed_out=deadline.expired)) from exc
        return rows

    def _failure(self, exc: SQLAlchemyError, *, timed_out: bool) -> str:
        if is_connection_failure(exc):
            return cannot_connect_message(self.db, exc)
        orig = exc.orig if isinstance(exc, DBAPIError) else None
        if timed_out or getattr(orig, "sqlstate", None) == PG_QUERY_CANCELED:
            ms = self.db.query_timeout_ms
            return (
                f"the mailbox query did not finish within {TIMEOUT_VAR}={ms} ms; make it cheaper "
                f"(e.g. index the status column) or raise {TIMEOUT_VAR}"
            )
        table = missing_table(exc)
        if table is not None:
            return (
                f"the mailbox query failed: table '{table}' does not exist; create it with "
                f"`warmup-autoscaler db init --demo` or set {QUERY_VAR} to a query on your table"
            )
        return f"the mailbox query failed: {driver_message(exc)}; check {QUERY_VAR}"

    def _value(self, rows: Sequence[Sequence[Any]] | None) -> int:
        if rows is None:
            raise self._bad("no result set (is it a SELECT?)")
        if not rows:
            raise self._bad("no rows")
        if len(rows) > 1:
            raise self._bad("more than one row")
        if len(rows[0]) == 0:
            raise self._bad("a row with no columns")
        value = rows[0][0]
        if value is None:
            raise self._bad("NULL (wrap it in COALESCE(..., 0) if it can be empty)")
        number = _whole_number(value)
        if number is None:
            kind = "text" if isinstance(value, str) else type(value).__name__
            raise self._bad(f"{value!r} ({kind}), which is not a whole number")
        if number < 0:
            raise self._bad(f"{number}, which is negative")
        return number

    def _bad(self, returned: str) -> CountError:
        return CountError(
            f"{QUERY_VAR} must return one row whose first column is a whole number of 0 or more; "
            f"it returned {returned}"
        )


def _whole_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None
