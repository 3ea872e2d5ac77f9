"""The warmup job: mailbox accounts, sends and engagement events.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    text = sa.Text
    op.create_table(
        "warmup_accounts",
        sa.Column("mailbox_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("smtp_host", sa.String(255), nullable=False),
        sa.Column("smtp_port", sa.Integer(), nullable=False),
        sa.Column("smtp_security", sa.String(10), nullable=False),
        sa.Column("smtp_username", sa.String(320), nullable=False),
        sa.Column("smtp_password", text(), nullable=False),
        sa.Column("imap_host", sa.String(255), nullable=False),
        sa.Column("imap_port", sa.Integer(), nullable=False),
        sa.Column("imap_security", sa.String(10), nullable=False),
        sa.Column("imap_username", sa.String(320), nullable=False),
        sa.Column("imap_password", text(), nullable=False),
        sa.Column("start_volume", sa.Integer(), nullable=False),
        sa.Column("target_volume", sa.Integer(), nullable=False),
        sa.Column("ramp_per_day", sa.Integer(), nullable=False),
        sa.Column("reply_rate", sa.Float(), nullable=False),
        sa.Column("window_start_hour", sa.Integer(), nullable=False),
        sa.Column("window_end_hour", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("started_on", sa.String(10), nullable=False),
        sa.Column("paused_reason", text(), nullable=True),
        sa.Column("paused_at", sa.BigInteger(), nullable=True),
        sa.Column("paused_by", sa.String(10), nullable=True),
        sa.Column("auth_failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("connect_failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("retry_at", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "warmup_sends",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("idem_key", sa.String(200), nullable=False, unique=True),
        sa.Column("mailbox_id", sa.BigInteger(), nullable=False),
        sa.Column("recipient_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(255), nullable=False, unique=True),
        sa.Column("in_reply_to", sa.String(255), nullable=True),
        sa.Column("subject", text(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("worker_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("error", text(), nullable=True),
        sa.Column("claimed_at", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_warmup_sends_mailbox_claimed", "warmup_sends", ["mailbox_id", "claimed_at"])
    op.create_index(
        "ix_warmup_sends_recipient_claimed", "warmup_sends", ["recipient_id", "claimed_at"]
    )
    op.create_table(
        "warmup_events",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("mailbox_id", sa.BigInteger(), nullable=False),
        sa.Column("sender_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("folder", sa.String(10), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("worker_id", sa.String(32), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("mailbox_id", "message_id", "kind", name="uq_warmup_events_once"),
    )
    op.create_index("ix_warmup_events_sender_at", "warmup_events", ["sender_id", "at"])
    op.create_index("ix_warmup_events_at", "warmup_events", ["at"])


def downgrade() -> None:
    op.drop_index("ix_warmup_events_at", table_name="warmup_events")
    op.drop_index("ix_warmup_events_sender_at", table_name="warmup_events")
    op.drop_table("warmup_events")
    op.drop_index("ix_warmup_sends_recipient_claimed", table_name="warmup_sends")
    op.drop_index("ix_warmup_sends_mailbox_claimed", table_name="warmup_sends")
    op.drop_table("warmup_sends")
    op.drop_table("warmup_accounts")
