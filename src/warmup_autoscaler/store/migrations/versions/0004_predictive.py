"""Scale-up lead times: how long each scale-up took until the registry had the workers it asked.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "autoscaler_lead_times",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("scaled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_workers", sa.Integer(), nullable=False),
        sa.Column("to_workers", sa.Integer(), nullable=False),
        sa.Column("lead_ms", sa.Float(), nullable=False),
    )
    op.create_index(
        op.f("ix_autoscaler_lead_times_scaled_at"), "autoscaler_lead_times", ["scaled_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_autoscaler_lead_times_scaled_at"), table_name="autoscaler_lead_times")
    op.drop_table("autoscaler_lead_times")
