"""The scaler state and the decision journal.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "autoscaler_state",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("last_scale_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_scale_down_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workers", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "autoscaler_checks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("mailbox_count", sa.BigInteger(), nullable=True),
        sa.Column("current_workers", sa.Integer(), nullable=True),
        sa.Column("target_workers", sa.Integer(), nullable=True),
        sa.Column("optimal_workers", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("utilization_percent", sa.Float(), nullable=True),
        sa.Column("executed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
    )
    op.create_index(op.f("ix_autoscaler_checks_checked_at"), "autoscaler_checks", ["checked_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_autoscaler_checks_checked_at"), table_name="autoscaler_checks")
    op.drop_table("autoscaler_checks")
    op.drop_table("autoscaler_state")
