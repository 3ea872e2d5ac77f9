"""Run the mailbox query once before the daemon starts (and in `config`), and check its result.

Validating the query's text lets through queries whose result can never be a count: text, two
columns, several rows, NULL. The query is run once through the sensor's `MailboxCounter` (its
timeout, its read-only guard, its handling of driver errors). A result of the wrong shape is a
configuration error (exit 2, nothing started). A query that could not run (the database down, the
table missing, the timeout) is not: the daemon starts, and its checks report it and retry, as they
would if the database went away later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from warmup_autoscaler.config import DatabaseSettings
from warmup_autoscaler.errors import ConfigError, CountError
from warmup_autoscaler.sensor import MailboxCounter
from warmup_autoscaler.store.database import Database

__all__ = ["QueryCheck", "check_mailbox_query"]

QUERY_VAR = DatabaseSettings.env_name("mailbox_query")
WANTED = "must return one row with one column, a whole number of 0 or more"


class _ShapeError(CountError):
    """The query ran but its result cannot be a count."""


class _CheckingCounter(MailboxCounter):
    """The sensor's counter, also refusing extra columns (which the sensor itself ignores), with
    every wrong result told apart from a query that could not run."""

    def _value(self, rows: Sequence[Sequence[Any]] | None) -> int:
        if rows and len(rows[0]) > 1:
            raise _ShapeError(f"it returned {len(rows[0])} columns")
        try:
            return super()._value(rows)
        except CountError as exc:
            returned = exc.message.partition("; it returned ")[2]
            raise _ShapeError(f"it returned {returned}" if returned else exc.message) from exc


@dataclass(frozen=True, kw_only=True)
class QueryCheck:
    """What running the query once found: the count, or why the query could not run."""

    count: int | None
    unavailable: str | None = None


def check_mailbox_query(db: Database, query: str) -> QueryCheck:
    """Run `query` once; raise `ConfigError` when its result cannot be a count."""
    try:
        return QueryCheck(count=_CheckingCounter(db, query).count())
    except _ShapeError as exc:
        raise ConfigError([f"{QUERY_VAR}={query}: {WANTED}; {exc.message}"]) from exc
    except CountError as exc:
        return QueryCheck(count=None, unavailable=exc.message)
