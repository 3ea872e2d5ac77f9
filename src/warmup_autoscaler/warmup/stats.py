"""Deliverability figures over the last 7 days, per sending mailbox and for the pool.

For mailbox X: `sent` (its messages delivered to the server: quota sends and replies),
`bounced`, and what happened to its mail at the receivers: `inbox` (landed in the inbox),
`spam` (landed in spam), `rescued` (moved out of spam), `replied`; `inboxRate` is
inbox / (inbox + spam), null before anything was received. Two grouped queries in all.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import text

from warmup_autoscaler.store.database import Database, now_ms_sql
from warmup_autoscaler.warmup.store import guarded_warmup

__all__ = ["WINDOW_DAYS", "Figures", "figures"]

WINDOW_DAYS = 7
SENDS = """
    SELECT mailbox_id,
           coalesce(sum(CASE WHEN status = 'sent' THEN 1 ELSE 0 END), 0),
           coalesce(sum(CASE WHEN status = 'bounced' THEN 1 ELSE 0 END), 0)
    FROM warmup_sends WHERE claimed_at > {now} - :window_ms {only} GROUP BY mailbox_id"""
EVENTS = """
    SELECT sender_id,
           coalesce(sum(CASE WHEN kind = 'received' AND folder = 'inbox' THEN 1 ELSE 0 END), 0),
           coalesce(sum(CASE WHEN kind = 'received' AND folder = 'spam' THEN 1 ELSE 0 END), 0),
           coalesce(sum(CASE WHEN kind = 'rescued' THEN 1 ELSE 0 END), 0),
           coalesce(sum(CASE WHEN kind = 'replied' THEN 1 ELSE 0 END), 0)
    FROM warmup_events WHERE at > {now} - :window_ms {only} GROUP BY sender_id"""


@dataclass(frozen=True, kw_only=True)
class Figures:
    sent: int = 0
    inbox: int = 0
    spam: int = 0
    rescued: int = 0
    replied: int = 0
    bounced: int = 0

    @property
    def inbox_rate(self) -> float | None:
        received = self.inbox + self.spam
        return None if received == 0 else round(self.inbox / received, 4)

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["inboxRate"] = self.inbox_rate
        out["windowDays"] = WINDOW_DAYS
        return out


def figures(db: Database, mailbox_id: int | None = None) -> tuple[dict[int, Figures], Figures]:
    """({mailbox: its figures}, the pool's totals); with `mailbox_id`, that mailbox only."""
    now = now_ms_sql(db.dialect_name)
    params: dict[str, Any] = {"window_ms": WINDOW_DAYS * 86_400_000, "m": mailbox_id}
    by: dict[int, dict[str, int]] = {}
    with guarded_warmup(db, "reading the deliverability figures", write=False) as conn:
        only = "" if mailbox_id is None else "AND mailbox_id = :m"
        for m, sent, bounced in conn.execute(text(SENDS.format(now=now, only=only)), params):
            by.setdefault(int(m), {}).update(sent=int(sent), bounced=int(bounced))
        only = "" if mailbox_id is None else "AND sender_id = :m"
        for m, inbox, spam, rescued, replied in conn.execute(
            text(EVENTS.format(now=now, only=only)), params
        ):
            by.setdefault(int(m), {}).update(
                inbox=int(inbox), spam=int(spam), rescued=int(rescued), replied=int(replied)
            )
    per = {m: Figures(**values) for m, values in by.items()}
    total = Figures()
    for f in per.values():
        total = total + f
    return per, total
