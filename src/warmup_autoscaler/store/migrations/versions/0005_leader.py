"""The leader's lease, and the instance and term of each journaled check.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "autoscaler_leader",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(100), nullable=True),
        sa.Column("term", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("expires_at", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("acquired_at", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("renewed_at", sa.BigInteger(), nullable=False, server_default="0"),
    )
    with op.batch_alter_table("autoscaler_checks") as batch:
        batch.add_column(sa.Column("instance", sa.String(100), nullable=True))
        batch.add_column(sa.Column("term", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("autoscaler_checks") as batch:
        batch.drop_column("term")
        batch.drop_column("instance")
    op.drop_table("autoscaler_leader")
