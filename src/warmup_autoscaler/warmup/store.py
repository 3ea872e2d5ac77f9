"""`warmup_accounts` reads and writes for the CLI, the API and the daemon (unfenced: these are
an operator's actions, not a worker's). The job's fenced writes live in `warmup.fenced`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, insert, literal_column, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from warmup_autoscaler.errors import StoreError
from warmup_autoscaler.store.database import Database, failure_message, missing_table, now_ms_sql
from warmup_autoscaler.warmup.accounts import Account, AccountInput
from warmup_autoscaler.warmup.errors import AccountError
from warmup_autoscaler.warmup.schema import accounts

if TYPE_CHECKING:
    from warmup_autoscaler.warmup.secrets import SecretBox

__all__ = ["AccountStore", "PausedMailbox", "guarded_warmup"]


@contextmanager
def guarded_warmup(db: Database, doing: str, *, write: bool) -> Iterator[Connection]:
    """A transaction whose driver errors leave as `StoreError` naming what was being done."""
    try:
        with db.begin_write() if write else db.engine.begin() as conn:
            yield conn
    except SQLAlchemyError as exc:
        if missing_table(exc) is not None and not isinstance(exc, IntegrityError):
            raise StoreError(
                f"{doing} failed: the warmup tables do not exist; run `warmup-autoscaler db init`"
            ) from exc
        hint = "check DATABASE_URL"
        raise StoreError(failure_message(db, exc, doing, hint)) from exc


class PausedMailbox(dict[str, Any]):
    """{mailboxId, email, reason, pausedAtMs}: a mailbox a safety stop paused."""


class AccountStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._now: ColumnElement[int] = literal_column(now_ms_sql(db.dialect_name))

    def add_many(self, items: Sequence[AccountInput], box: SecretBox) -> int:
        """Insert every account in one transaction: all of them or none."""
        rows = []
        for item in items:
            values = asdict(item)
            values["smtp_password"] = box.encrypt(item.smtp_password)
            values["imap_password"] = box.encrypt(item.imap_password)
            rows.append(values)
        if not rows:
            return 0
        try:
            with guarded_warmup(self.db, "adding mailbox accounts", write=True) as conn:
                for values in rows:
                    conn.execute(
                        insert(accounts).values(
                            **values, created_at=self._now, updated_at=self._now
                        )
                    )
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise AccountError(
                    ["a mailbox id or email already has a warmup account; nothing was added"]
                ) from exc
            raise
        return len(rows)

    def existing(self, ids: Sequence[int], emails: Sequence[str]) -> tuple[set[int], set[str]]:
        """Which of these mailbox ids and emails already have an account."""
        with guarded_warmup(self.db, "reading mailbox accounts", write=False) as conn:
            rows = conn.execute(select(accounts.c.mailbox_id, accounts.c.email)).all()
        have_ids = {int(r[0]) for r in rows}
        have_emails = {str(r[1]).lower() for r in rows}
        return have_ids & set(ids), have_emails & {e.lower() for e in emails}

    def all(self) -> list[Account]:
        with guarded_warmup(self.db, "reading mailbox accounts", write=False) as conn:
            rows = conn.execute(select(accounts).order_by(accounts.c.mailbox_id)).mappings().all()
        return [Account.from_row(dict(r)) for r in rows]

    def get(self, mailbox_id: int) -> Account | None:
        with guarded_warmup(self.db, "reading a mailbox account", write=False) as conn:
            row = (
                conn.execute(select(accounts).where(accounts.c.mailbox_id == mailbox_id))
                .mappings()
                .first()
            )
        return None if row is None else Account.from_row(dict(row))

    def set_paused(self, mailbox_id: int, reason: str | None) -> bool:
        """Pause by hand (`reason`) or resume (None, also clearing the safety counters)."""
        values: dict[str, Any] = {"updated_at": self._now}
        if reason is None:
            values.update(paused_reason=None, paused_at=None, paused_by=None,
                          auth_failures=0, connect_failures=0, retry_at=0)  # fmt: skip
        else:
            values.update(paused_reason=reason, paused_at=self._now, paused_by="user")
        with guarded_warmup(self.db, "pausing or resuming a mailbox", write=True) as conn:
            done = conn.execute(
                update(accounts).where(accounts.c.mailbox_id == mailbox_id).values(**values)
            )
        return done.rowcount == 1

    def check_key(self, box: SecretBox) -> None:
        """Raise `WrongKeyError` when `box` cannot decrypt a stored password (checks one row)."""
        with guarded_warmup(self.db, "reading a stored password", write=False) as conn:
            token = conn.execute(select(accounts.c.smtp_password).limit(1)).scalar()
        if token is not None:
            box.decrypt(str(token))

    def safety_paused(self) -> list[PausedMailbox]:
        """The mailboxes a safety stop paused, oldest pause first: the daemon's alert reads this."""
        query = (
            select(accounts.c.mailbox_id, accounts.c.email, accounts.c.paused_reason,
                   accounts.c.paused_at)
            .where(accounts.c.paused_by == "safety")
            .order_by(accounts.c.paused_at, accounts.c.mailbox_id)
        )  # fmt: skip
        with guarded_warmup(self.db, "reading paused mailboxes", write=False) as conn:
            rows = conn.execute(query).all()
        return [
            PausedMailbox(mailboxId=int(r[0]), email=str(r[1]), reason=r[2], pausedAtMs=r[3])
            for r in rows
        ]
