"""Samples for charts, pause state, and why a decision was not executed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "autoscaler_samples",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("sampled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mailboxes", sa.BigInteger(), nullable=True),
        sa.Column("workers", sa.Integer(), nullable=True),
        sa.Column("capacity", sa.BigInteger(), nullable=True),
        sa.Column("utilization_percent", sa.Float(), nullable=True),
        sa.Column("backlog", sa.Integer(), nullable=True),
    )
    op.create_index(op.f("ix_autoscaler_samples_sampled_at"), "autoscaler_samples", ["sampled_at"])
    with op.batch_alter_table("autoscaler_checks") as batch:
        batch.add_column(sa.Column("skipped", sa.String(20), nullable=True))
    with op.batch_alter_table("autoscaler_state") as batch:
        batch.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("pause_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("autoscaler_state") as batch:
        batch.drop_column("pause_reason")
        batch.drop_column("paused_until")
        batch.drop_column("paused_at")
    with op.batch_alter_table("autoscaler_checks") as batch:
        batch.drop_column("skipped")
    op.drop_index(op.f("ix_autoscaler_samples_sampled_at"), table_name="autoscaler_samples")
    op.drop_table("autoscaler_samples")
