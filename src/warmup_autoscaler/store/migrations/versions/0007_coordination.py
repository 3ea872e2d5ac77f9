"""Worker coordination whose heartbeat does not grow with the mailboxes.

A lease is now valid while its owner's registration is (`autoscaler_workers.expires_at`), so the
per-lease `expires_at` goes; leases reference their owner (ON DELETE SET NULL: pruning a worker
releases its leases), carry a `retired` mark for mailboxes gone inactive, and the one-row
`autoscaler_fleet` holds the membership version, the mailbox total and the sync schedule.
Workers of the previous version cannot run against this schema: every registration is dropped
and every lease released, so restart the workers after upgrading.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FREE = "worker_id IS NULL AND NOT retired"


def upgrade() -> None:
    op.execute("UPDATE autoscaler_leases SET worker_id = NULL")
    op.execute("DELETE FROM autoscaler_workers")
    with op.batch_alter_table("autoscaler_workers") as batch:
        batch.add_column(
            sa.Column("expires_at", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("owned", sa.Integer(), nullable=False, server_default="0"))
    op.drop_index("ix_autoscaler_leases_expires_at", table_name="autoscaler_leases")
    with op.batch_alter_table("autoscaler_leases") as batch:
        batch.drop_column("expires_at")
        batch.add_column(
            sa.Column("retired", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_foreign_key(
            "fk_autoscaler_leases_worker_id",
            "autoscaler_workers",
            ["worker_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index(
        "ix_autoscaler_leases_free",
        "autoscaler_leases",
        ["mailbox_id"],
        postgresql_where=sa.text(FREE),
        sqlite_where=sa.text(FREE),
    )
    op.create_index(
        "ix_autoscaler_leases_retired",
        "autoscaler_leases",
        ["worker_id"],
        postgresql_where=sa.text("retired"),
        sqlite_where=sa.text("retired"),
    )
    op.create_table(
        "autoscaler_fleet",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("members", sa.BigInteger(), nullable=False),
        sa.Column("mailboxes", sa.BigInteger(), nullable=False),
        sa.Column("synced_at", sa.BigInteger(), nullable=False),
        sa.Column("sync_ms", sa.Integer(), nullable=False),
        sa.Column("sync_due_at", sa.BigInteger(), nullable=False),
    )
    op.execute(
        "INSERT INTO autoscaler_fleet (id, members, mailboxes, synced_at, sync_ms, sync_due_at) "
        "SELECT 1, 0, count(*), 0, 0, 0 FROM autoscaler_leases"
    )


def downgrade() -> None:
    op.drop_table("autoscaler_fleet")
    op.drop_index("ix_autoscaler_leases_retired", table_name="autoscaler_leases")
    op.drop_index("ix_autoscaler_leases_free", table_name="autoscaler_leases")
    op.execute("DELETE FROM autoscaler_leases WHERE retired")
    with op.batch_alter_table("autoscaler_leases") as batch:
        batch.drop_constraint("fk_autoscaler_leases_worker_id", type_="foreignkey")
        batch.drop_column("retired")
        batch.add_column(
            sa.Column("expires_at", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.execute("UPDATE autoscaler_leases SET worker_id = NULL")
    op.create_index("ix_autoscaler_leases_expires_at", "autoscaler_leases", ["expires_at"])
    op.execute("DELETE FROM autoscaler_workers")
    with op.batch_alter_table("autoscaler_workers") as batch:
        batch.drop_column("owned")
        batch.drop_column("expires_at")
