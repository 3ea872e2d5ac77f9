"""The worker registry, mailbox leases and the warmup-cycle record.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "autoscaler_workers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
    )
    op.create_table(
        "autoscaler_leases",
        sa.Column("mailbox_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("worker_id", sa.String(32), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_autoscaler_leases_worker_id", "autoscaler_leases", ["worker_id"])
    op.create_index("ix_autoscaler_leases_expires_at", "autoscaler_leases", ["expires_at"])
    op.create_table(
        "warmup_cycles",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("mailbox_id", sa.BigInteger(), nullable=False),
        sa.Column("worker_id", sa.String(32), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index(
        "ix_warmup_cycles_mailbox_id_started_at", "warmup_cycles", ["mailbox_id", "started_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_warmup_cycles_mailbox_id_started_at", table_name="warmup_cycles")
    op.drop_table("warmup_cycles")
    op.drop_index("ix_autoscaler_leases_expires_at", table_name="autoscaler_leases")
    op.drop_index("ix_autoscaler_leases_worker_id", table_name="autoscaler_leases")
    op.drop_table("autoscaler_leases")
    op.drop_table("autoscaler_workers")
