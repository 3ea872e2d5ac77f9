"""The warmup job's tables (migration 0006), keyed to the user's mailbox id; the user's own
mailboxes table is never touched. Times are epoch ms on the DATABASE's clock, like the leases.

- `warmup_accounts`: one row per warmed mailbox: servers, encrypted passwords, ramp settings,
  and the safety state (failure counters, retry time, the reason it was paused).
- `warmup_sends`: one row per message sent (a quota slot or a reply), claimed under the lease
  with its idempotency key before the message leaves, then marked sent, bounced or failed.
- `warmup_events`: what the receiving mailbox did with pool mail, one row per (mailbox,
  message, kind): received (with the folder it landed in), rescued, read, flagged, replied,
  archived.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from warmup_autoscaler.store.schema import BigId

__all__ = ["accounts", "events", "sends", "warmup_metadata"]

warmup_metadata = MetaData()

accounts = Table(
    "warmup_accounts",
    warmup_metadata,
    Column("mailbox_id", BigInteger, primary_key=True, autoincrement=False),
    Column("email", String(320), nullable=False, unique=True),
    Column("smtp_host", String(255), nullable=False),
    Column("smtp_port", Integer, nullable=False),
    Column("smtp_security", String(10), nullable=False),  # ssl | starttls | none
    Column("smtp_username", String(320), nullable=False),
    Column("smtp_password", Text, nullable=False),  # Fernet token, never plaintext
    Column("imap_host", String(255), nullable=False),
    Column("imap_port", Integer, nullable=False),
    Column("imap_security", String(10), nullable=False),
    Column("imap_username", String(320), nullable=False),
    Column("imap_password", Text, nullable=False),  # Fernet token, never plaintext
    Column("start_volume", Integer, nullable=False),
    Column("target_volume", Integer, nullable=False),
    Column("ramp_per_day", Integer, nullable=False),
    Column("reply_rate", Float, nullable=False),
    Column("window_start_hour", Integer, nullable=False),
    Column("window_end_hour", Integer, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("started_on", String(10), nullable=False),  # day 0 of the ramp, YYYY-MM-DD local
    Column("paused_reason", Text, nullable=True),  # set by a safety stop or `mailbox pause`
    Column("paused_at", BigInteger, nullable=True),
    Column("paused_by", String(10), nullable=True),  # safety | user
    Column("auth_failures", Integer, nullable=False, server_default="0"),  # in a row
    Column("connect_failures", Integer, nullable=False, server_default="0"),  # in a row
    Column("retry_at", BigInteger, nullable=False, server_default="0"),  # backoff after a failure
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

sends = Table(
    "warmup_sends",
    warmup_metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("idem_key", String(200), nullable=False, unique=True),  # mailbox:day:slot | reply
    Column("mailbox_id", BigInteger, nullable=False),  # the sender
    Column("recipient_id", BigInteger, nullable=False),
    Column("kind", String(10), nullable=False),  # new | reply
    Column("day", String(10), nullable=False),  # the sender's local date
    Column("slot", Integer, nullable=True),  # the quota slot; NULL for replies
    Column("message_id", String(255), nullable=False, unique=True),
    Column("in_reply_to", String(255), nullable=True),
    Column("subject", Text, nullable=False),
    Column("epoch", BigInteger, nullable=False),  # the lease epoch it was claimed under
    Column("worker_id", String(32), nullable=False),
    Column("status", String(10), nullable=False),  # sending | sent | bounced | failed
    Column("error", Text, nullable=True),
    Column("claimed_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger, nullable=True),
    Index("ix_warmup_sends_mailbox_claimed", "mailbox_id", "claimed_at"),
    Index("ix_warmup_sends_recipient_claimed", "recipient_id", "claimed_at"),
)

events = Table(
    "warmup_events",
    warmup_metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("mailbox_id", BigInteger, nullable=False),  # the receiver that did it
    Column("sender_id", BigInteger, nullable=False),
    Column("message_id", String(255), nullable=False),
    Column(
        "kind", String(20), nullable=False
    ),  # received | rescued | read | flagged | replied | archived
    Column("folder", String(10), nullable=True),  # received: inbox | spam
    Column("epoch", BigInteger, nullable=False),
    Column("worker_id", String(32), nullable=False),
    Column("at", BigInteger, nullable=False),
    UniqueConstraint("mailbox_id", "message_id", "kind", name="uq_warmup_events_once"),
    Index("ix_warmup_events_sender_at", "sender_id", "at"),
    Index("ix_warmup_events_at", "at"),
)
