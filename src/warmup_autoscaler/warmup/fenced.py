"""The warmup job's statements, named, in one place. Every write a worker makes for a mailbox
(claiming a send, recording an engagement, a safety stop) carries the lease fence
(`worker.leases.lease_fence_sql`) in its own WHERE, so a worker that lost its lease writes
nothing. A send is claimed by its idempotency key (mailbox:day:slot) before the message leaves,
so no slot is ever sent twice by two owners.

Binds of every fenced statement: :mailbox_id, :worker_id, :epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.exc import IntegrityError

from warmup_autoscaler.errors import StoreError
from warmup_autoscaler.store.database import Database, now_ms_sql
from warmup_autoscaler.warmup.accounts import Account
from warmup_autoscaler.warmup.partners import Partner
from warmup_autoscaler.warmup.schema import accounts
from warmup_autoscaler.warmup.store import guarded_warmup
from warmup_autoscaler.worker.leases import lease_fence_sql

__all__ = ["Claim", "Fence", "SendRow", "WarmupStore"]

DAY_MS = 86_400_000

SQL: dict[str, str] = {
    "claim_send": """
        INSERT INTO warmup_sends (idem_key, mailbox_id, recipient_id, kind, day, slot,
            message_id, in_reply_to, subject, epoch, worker_id, status, claimed_at)
        SELECT CAST(:idem_key AS VARCHAR(200)), CAST(:mailbox_id AS BIGINT),
               CAST(:recipient_id AS BIGINT), CAST(:kind AS VARCHAR(10)),
               CAST(:day AS VARCHAR(10)), CAST(:slot AS INTEGER),
               CAST(:message_id AS VARCHAR(255)), CAST(:in_reply_to AS VARCHAR(255)),
               CAST(:subject AS TEXT), CAST(:epoch AS BIGINT), CAST(:worker_id AS VARCHAR(32)),
               'sending', {now}
        WHERE {fence} AND NOT EXISTS (
            SELECT 1 FROM warmup_sends WHERE idem_key = :idem_key)""",
    "retake_send": """
        UPDATE warmup_sends SET epoch = :epoch, worker_id = :worker_id, status = 'sending',
            claimed_at = {now}, error = NULL
        WHERE idem_key = :idem_key AND status IN ('sending', 'deferred') AND {fence}""",
    "finish_send": """
        UPDATE warmup_sends SET status = CAST(:status AS VARCHAR(10)), error = CAST(:error AS TEXT),
            sent_at = CASE WHEN CAST(:status AS VARCHAR(10)) = 'sent' THEN {now} ELSE sent_at END
        WHERE idem_key = :idem_key AND epoch = :epoch AND worker_id = :worker_id""",
    "record_event": """
        INSERT INTO warmup_events
            (mailbox_id, sender_id, message_id, kind, folder, epoch, worker_id, at)
        SELECT CAST(:mailbox_id AS BIGINT), CAST(:sender_id AS BIGINT),
               CAST(:message_id AS VARCHAR(255)), CAST(:kind AS VARCHAR(20)),
               CAST(:folder AS VARCHAR(10)), CAST(:epoch AS BIGINT),
               CAST(:worker_id AS VARCHAR(32)), {now}
        WHERE {fence} AND NOT EXISTS (
            SELECT 1 FROM warmup_events
            WHERE mailbox_id = :mailbox_id AND message_id = :message_id AND kind = :kind)""",
    "fence_holds": "SELECT CASE WHEN {fence} THEN 1 ELSE 0 END",
    "safety": """
        UPDATE warmup_accounts SET auth_failures = :auth_failures,
            connect_failures = :connect_failures,
            retry_at = CASE WHEN CAST(:retry_in_ms AS BIGINT) > 0
                THEN {now} + CAST(:retry_in_ms AS BIGINT) ELSE 0 END,
            paused_reason = CAST(:pause_reason AS TEXT),
            paused_by = CASE WHEN CAST(:pause_reason AS TEXT) IS NULL THEN NULL ELSE 'safety' END,
            paused_at = CASE WHEN CAST(:pause_reason AS TEXT) IS NULL THEN NULL ELSE {now} END,
            updated_at = {now}
        WHERE mailbox_id = :mailbox_id AND {fence}""",
    "now": "SELECT {now}",
    "sends_on": """
        SELECT slot, idem_key, status, epoch, message_id, recipient_id, in_reply_to, subject,
               {now} - claimed_at
        FROM warmup_sends
        WHERE mailbox_id = :mailbox_id AND day = :day AND kind = 'new'""",
    "unfinished": """
        SELECT slot, idem_key, status, epoch, message_id, recipient_id, in_reply_to, subject,
               {now} - claimed_at
        FROM warmup_sends
        WHERE mailbox_id = :mailbox_id AND kind = 'new' AND status IN ('sending', 'deferred')
          AND claimed_at > {now} - :window_ms
        ORDER BY claimed_at""",
    "pair_counts": """
        SELECT recipient_id, count(*) FROM warmup_sends
        WHERE mailbox_id = :mailbox_id AND claimed_at > {now} - :window_ms
        GROUP BY recipient_id""",
    "senders_of": """
        SELECT message_id, mailbox_id, subject FROM warmup_sends
        WHERE recipient_id = :mailbox_id AND message_id IN :ids""",
    "latest_thread": """
        SELECT message_id, subject FROM warmup_sends
        WHERE ((mailbox_id = :a AND recipient_id = :b) OR (mailbox_id = :b AND recipient_id = :a))
          AND status = 'sent' AND claimed_at > {now} - :window_ms
        ORDER BY claimed_at DESC LIMIT 1""",
    "bounce_stats": """
        SELECT coalesce(sum(CASE WHEN status IN ('sent', 'bounced') THEN 1 ELSE 0 END), 0),
               coalesce(sum(CASE WHEN status = 'bounced' THEN 1 ELSE 0 END), 0)
        FROM warmup_sends WHERE mailbox_id = :mailbox_id AND claimed_at > {now} - :window_ms""",
    "pool": """
        SELECT mailbox_id, email FROM warmup_accounts
        WHERE enabled = :yes AND paused_reason IS NULL ORDER BY mailbox_id""",
}


class Claim(StrEnum):
    DONE = "done"  # written now
    EXISTS = "exists"  # written before (by this or an earlier owner): nothing to do
    FENCED = "fenced"  # the lease is lost: stop the cycle


@dataclass(frozen=True, kw_only=True)
class Fence:
    mailbox_id: int
    worker_id: str
    epoch: int

    def params(self) -> dict[str, Any]:
        return {"mailbox_id": self.mailbox_id, "worker_id": self.worker_id, "epoch": self.epoch}


@dataclass(frozen=True, kw_only=True)
class SendRow:
    slot: int | None
    idem_key: str
    status: str
    epoch: int
    message_id: str
    recipient_id: int
    in_reply_to: str | None
    subject: str
    age_ms: int  # since it was claimed, database clock


class WarmupStore:
    """Runs the statements above; each call is one short transaction and raises `StoreError`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        now, fence = now_ms_sql(db.dialect_name), lease_fence_sql(db.dialect_name)
        self._sql: dict[str, TextClause] = {
            name: text(sql.format(now=now, fence=fence)) for name, sql in SQL.items()
        }
        self._sql["senders_of"] = self._sql["senders_of"].bindparams(
            bindparam("ids", expanding=True)
        )

    def _write(self, name: str, params: dict[str, Any], doing: str) -> int:
        with guarded_warmup(self.db, doing, write=True) as conn:
            return int(conn.execute(self._sql[name], params).rowcount)

    def _rows(self, name: str, params: dict[str, Any], doing: str) -> Sequence[Any]:
        with guarded_warmup(self.db, doing, write=False) as conn:
            return conn.execute(self._sql[name], params).all()

    def _classify(self, fence: Fence) -> Claim:
        holds = self._rows("fence_holds", fence.params(), "checking the lease")[0][0]
        return Claim.EXISTS if int(holds) else Claim.FENCED

    def fence_holds(self, fence: Fence) -> bool:
        return self._classify(fence) is Claim.EXISTS

    def now_ms(self) -> int:
        return int(self._rows("now", {}, "reading the database clock")[0][0])

    def account(self, mailbox_id: int) -> Account | None:
        from sqlalchemy import select

        with guarded_warmup(self.db, "reading a mailbox account", write=False) as conn:
            row = (
                conn.execute(select(accounts).where(accounts.c.mailbox_id == mailbox_id))
                .mappings()
                .first()
            )
        return None if row is None else Account.from_row(dict(row))

    def pool(self) -> list[Partner]:
        rows = self._rows("pool", {"yes": True}, "reading the warmup pool")
        return [Partner(mailbox_id=int(r[0]), email=str(r[1])) for r in rows]

    def claim_send(self, fence: Fence, **values: Any) -> Claim:
        """Reserve a send by its idempotency key under the lease, before the message leaves."""
        params = {**fence.params(), "in_reply_to": None, "slot": None, **values}
        try:
            done = self._write("claim_send", params, "claiming a send")
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return Claim.EXISTS  # a concurrent claim of the same key won
            raise
        return Claim.DONE if done == 1 else self._classify(fence)

    def retake_send(self, fence: Fence, idem_key: str) -> bool:
        """Take over an unfinished send (an earlier owner's, or a deferred one) under the lease."""
        params = {**fence.params(), "idem_key": idem_key}
        return self._write("retake_send", params, "taking over a send") == 1

    def finish_send(self, fence: Fence, idem_key: str, status: str, error: str | None) -> None:
        """Record how a claimed send ended. Keyed by the epoch that claimed it and not fenced:
        once the message has left, its result is a fact to record even if the lease is lost."""
        params = {**fence.params(), "idem_key": idem_key, "status": status, "error": error}
        self._write("finish_send", params, "recording a send")

    def record_event(
        self, fence: Fence, *, sender_id: int, message_id: str, kind: str, folder: str | None = None
    ) -> Claim:
        params = {**fence.params(), "sender_id": sender_id, "message_id": message_id,
                  "kind": kind, "folder": folder}  # fmt: skip
        done = self._write("record_event", params, "recording an engagement")
        return Claim.DONE if done == 1 else self._classify(fence)

    def set_safety(self, fence: Fence, **values: Any) -> bool:
        """Write the safety counters, next attempt and pause (fenced)."""
        return self._write("safety", {**fence.params(), **values}, "writing a safety stop") == 1

    def sends_on(self, mailbox_id: int, day: str) -> dict[int, SendRow]:
        rows = self._rows("sends_on", {"mailbox_id": mailbox_id, "day": day}, "reading sends")
        return {int(r[0]): _send_row(r) for r in rows}

    def unfinished(self, mailbox_id: int, window_ms: int = 7 * DAY_MS) -> list[SendRow]:
        """Quota sends of any recent day left `sending` or `deferred`, oldest first."""
        params = {"mailbox_id": mailbox_id, "window_ms": window_ms}
        return [_send_row(r) for r in self._rows("unfinished", params, "reading sends")]

    def pair_counts(self, mailbox_id: int, window_ms: int = 7 * DAY_MS) -> dict[int, int]:
        params = {"mailbox_id": mailbox_id, "window_ms": window_ms}
        return {int(r[0]): int(r[1]) for r in self._rows("pair_counts", params, "reading sends")}

    def senders_of(self, mailbox_id: int, message_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        """{Message-ID: (sender mailbox, subject)} of the pool mail sent to this mailbox."""
        if not message_ids:
            return {}
        params = {"mailbox_id": mailbox_id, "ids": sorted(set(message_ids))}
        rows = self._rows("senders_of", params, "matching pool mail")
        return {str(r[0]): (int(r[1]), str(r[2])) for r in rows}

    def latest_thread(self, a: int, b: int, window_ms: int = 7 * DAY_MS) -> tuple[str, str] | None:
        rows = self._rows(
            "latest_thread", {"a": a, "b": b, "window_ms": window_ms}, "reading threads"
        )
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def bounce_stats(self, mailbox_id: int, window_ms: int = DAY_MS) -> tuple[int, int]:
        params = {"mailbox_id": mailbox_id, "window_ms": window_ms}
        answered, bounced = self._rows("bounce_stats", params, "reading bounces")[0]
        return int(answered), int(bounced)


def _send_row(r: Sequence[Any]) -> SendRow:
    return SendRow(slot=int(r[0]), idem_key=r[1], status=r[2], epoch=int(r[3]), message_id=r[4],
                   recipient_id=int(r[5]), in_reply_to=r[6], subject=r[7], age_ms=int(r[8]))  # fmt: skip
