"""The leader's lease: which auto-scaler instance checks and scales, and the term that fences it.

One row per scaler name in `autoscaler_leader`. The rules are pure functions (`claim`,
`released`, `holds`) applied under the row's lock (`SELECT ... FOR UPDATE` on PostgreSQL, the
write lock of `BEGIN IMMEDIATE` on SQLite), with the DATABASE's clock read once the lock is held,
so every instance judges expiry by one clock. The term grows by one each time the lease is taken;
a write fenced by a `Term` (`check_fence`, in the writer's own transaction) fails once the lease
has expired or passed to another instance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, TextClause, text

from warmup_autoscaler.errors import NotLeaderError
from warmup_autoscaler.store.database import Database, guarded, now_ms_sql
from warmup_autoscaler.store.schema import DEFAULT_SCALER

__all__ = [
    "FREE",
    "SQL",
    "LeaderStore",
    "Lease",
    "LeaseView",
    "Term",
    "check_fence",
    "claim",
    "holds",
    "released",
]

_COLUMNS = "holder, term, expires_at, acquired_at, renewed_at"
# {now}: the database clock in epoch ms.
SQL: dict[str, str] = {
    "ensure": """
        INSERT INTO autoscaler_leader (name, holder, term, expires_at, acquired_at, renewed_at)
        VALUES (:name, NULL, 0, 0, 0, 0) ON CONFLICT (name) DO NOTHING""",
    # Outer-joined to one row, so a missing lease row still reads the clock.
    "read": """
        SELECT l.holder, l.term, l.expires_at, l.acquired_at, l.renewed_at, {now}
        FROM (SELECT 1 AS one) AS clock
        LEFT JOIN autoscaler_leader AS l ON l.name = :name""",
    "lock_postgresql": f"SELECT {_COLUMNS} FROM autoscaler_leader WHERE name = :name FOR UPDATE",
    "lock_sqlite": f"SELECT {_COLUMNS} FROM autoscaler_leader WHERE name = :name",
    "now": "SELECT {now}",
    "write": """
        UPDATE autoscaler_leader
        SET holder = :holder, term = :term, expires_at = :expires_at,
            acquired_at = :acquired_at, renewed_at = :renewed_at
        WHERE name = :name""",
}


@dataclass(frozen=True, kw_only=True)
class Lease:
    """The lease row: who holds it, in which term, until when (epoch ms, database clock)."""

    holder: str | None
    term: int
    expires_at_ms: int
    acquired_at_ms: int = 0  # when `term` began
    renewed_at_ms: int = 0

    def held(self, now_ms: int) -> bool:
        """Whether some instance holds the lease at `now_ms`."""
        return self.holder is not None and self.expires_at_ms > now_ms


FREE = Lease(holder=None, term=0, expires_at_ms=0)


@dataclass(frozen=True, kw_only=True)
class Term:
    """One instance's leadership term: what a fenced write checks."""

    instance: str
    number: int
    name: str = DEFAULT_SCALER


@dataclass(frozen=True, kw_only=True)
class LeaseView:
    """The lease as one election round saw it, with the database clock at that moment."""

    lease: Lease
    now_ms: int

    @property
    def remaining_ms(self) -> int:
        """How long the lease still runs on the database clock (0 when nobody holds it)."""
        return self.lease.expires_at_ms - self.now_ms if self.lease.held(self.now_ms) else 0

    def term_of(self, instance: str, name: str = DEFAULT_SCALER) -> Term | None:
        """`instance`'s term if it holds the lease, else None."""
        if self.lease.holder != instance or not self.lease.held(self.now_ms):
            return None
        return Term(instance=instance, number=self.lease.term, name=name)


def claim(lease: Lease, me: str, now_ms: int, lease_ms: int) -> Lease:
    """The lease after `me` asks for it at `now_ms`: renewed while `me` holds it, taken in the
    next term when nobody holds it (never set, released or expired), else unchanged."""
    until = now_ms + lease_ms
    if lease.holder == me and lease.held(now_ms):
        return replace(lease, expires_at_ms=until, renewed_at_ms=now_ms)
    if not lease.held(now_ms):
        return Lease(
            holder=me,
            term=lease.term + 1,
            expires_at_ms=until,
            acquired_at_ms=now_ms,
            renewed_at_ms=now_ms,
        )
    return lease


def released(lease: Lease, me: str) -> Lease:
    """The lease after `me` gives it up: free at once for the next instance (unchanged when `me`
    does not hold it). The term stays, so the next holder's is higher."""
    if lease.holder != me:
        return lease
    return replace(lease, holder=None, expires_at_ms=0)


def holds(lease: Lease, term: Term, now_ms: int) -> bool:
    """Whether `term` is still the lease's current, unexpired term at `now_ms`."""
    return lease.holder == term.instance and lease.term == term.number and lease.held(now_ms)


def _sql(dialect: str) -> dict[str, TextClause]:
    now = now_ms_sql(dialect)
    return {name: text(sql.format(now=now)) for name, sql in SQL.items()}


def _lease(row: Any) -> Lease:
    holder, term, expires_at, acquired_at, renewed_at = row[:5]
    if term is None:  # no row yet
        return FREE
    return Lease(
        holder=holder,
        term=int(term),
        expires_at_ms=int(expires_at),
        acquired_at_ms=int(acquired_at),
        renewed_at_ms=int(renewed_at),
    )


def _locked(conn: Connection, sql: dict[str, TextClause], dialect: str, name: str) -> LeaseView:
    """The lease row, locked until the transaction ends (created free if missing), and the
    database clock read after the lock was granted."""
    conn.execute(sql["ensure"], {"name": name})
    row = conn.execute(sql[f"lock_{dialect}"], {"name": name}).one()
    return LeaseView(lease=_lease(row), now_ms=int(conn.execute(sql["now"]).scalar_one()))


def check_fence(conn: Connection, dialect: str, term: Term) -> None:
    """Raise `NotLeaderError` unless `term` is still the current, unexpired term. The lease row
    stays locked until the caller's transaction ends, so it cannot change hands before the
    caller's write commits."""
    view = _locked(conn, _sql(dialect), dialect, term.name)
    if not holds(view.lease, term, view.now_ms):
        now_leads = view.lease.holder if view.lease.held(view.now_ms) else None
        raise NotLeaderError(
            f"instance {term.instance} no longer leads (its term {term.number} has "
            + ("expired" if now_leads is None else f"passed to {now_leads}, term {view.lease.term}")
            + "); nothing was changed"
        )


class LeaderStore:
    """Elects and renews the leader among the instances sharing one database; each call is one
    short transaction (IMMEDIATE on SQLite when it may write) and raises only `StoreError`."""

    def __init__(
        self, db: Database, *, instance: str, lease_ms: int, name: str = DEFAULT_SCALER
    ) -> None:
        self.db = db
        self.instance = instance
        self.lease_ms = lease_ms
        self.name = name
        self._dialect = db.dialect_name
        self._sql = _sql(self._dialect)

    def read(self) -> LeaseView:
        """The lease as it is now, without taking or changing it."""
        with guarded(self.db, "reading the leader's lease", write=False) as conn:
            row = conn.execute(self._sql["read"], {"name": self.name}).one()
        return LeaseView(lease=_lease(row), now_ms=int(row[5]))

    def elect(self) -> LeaseView:
        """Renew the lease while this instance holds it, take it when nobody does; the lease as
        it is afterwards. A standby that sees another's live lease writes nothing."""
        seen = self.read()
        if seen.lease.held(seen.now_ms) and seen.lease.holder != self.instance:
            return seen
        with guarded(self.db, "taking the leader's lease", write=True) as conn:
            view = _locked(conn, self._sql, self._dialect, self.name)
            new = claim(view.lease, self.instance, view.now_ms, self.lease_ms)
            if new != view.lease:
                self._write(conn, new)
        return LeaseView(lease=new, now_ms=view.now_ms)

    def release(self) -> None:
        """Give the lease up (when this instance holds it), so a standby takes it at once."""
        with guarded(self.db, "releasing the leader's lease", write=True) as conn:
            view = _locked(conn, self._sql, self._dialect, self.name)
            new = released(view.lease, self.instance)
            if new != view.lease:
                self._write(conn, new)

    def _write(self, conn: Connection, lease: Lease) -> None:
        conn.execute(
            self._sql["write"],
            {
                "name": self.name,
                "holder": lease.holder,
                "term": lease.term,
                "expires_at": lease.expires_at_ms,
                "acquired_at": lease.acquired_at_ms,
                "renewed_at": lease.renewed_at_ms,
            },
        )
