"""Migration 0007 (worker coordination) on a database that has workers and leases, both ways."""

from __future__ import annotations

from sqlalchemy import inspect, text

from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.migrate import MIGRATIONS_DIR, current_revision, upgrade


def alembic(db: Database, action: str, revision: str) -> None:
    """Run Alembic's `upgrade` or `downgrade` to `revision`, as `migrate.upgrade` runs it."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    with db.begin_write() as conn:
        config.attributes["connection"] = conn
        getattr(command, action)(config, revision)


def columns(db: Database, table: str) -> set[str]:
    with db.engine.connect() as conn:
        return {c["name"] for c in inspect(conn).get_columns(table)}


def test_0007_keeps_lease_rows_and_epochs_and_releases_them(db: Database) -> None:
    """Upgrading a 0006 database keeps every lease row with its epoch, releases them all and
    drops the registrations (workers of the previous version cannot run on the new schema), and
    counts the rows in the fleet row; downgrading gives the 0006 tables back."""
    alembic(db, "upgrade", "0006")
    with db.begin_write() as conn:
        conn.execute(
            text(
                "INSERT INTO autoscaler_workers (id, name, host, pid, started_at, heartbeat_at, "
                "state) VALUES ('w1', 'old', 'h', 1, 1, 1, 'active')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO autoscaler_leases (mailbox_id, worker_id, expires_at, epoch) "
                "VALUES (1, 'w1', 99, 7), (2, NULL, 0, 3)"
            )
        )
    upgrade(db)
    assert current_revision(db) == "0007"
    with db.engine.connect() as conn:
        leases = conn.execute(
            text("SELECT mailbox_id, worker_id, epoch, retired FROM autoscaler_leases ORDER BY 1")
        ).all()
        fleet = conn.execute(text("SELECT id, members, mailboxes FROM autoscaler_fleet")).all()
        registered = conn.execute(text("SELECT count(*) FROM autoscaler_workers")).scalar_one()
    assert [(m, w, e, bool(r)) for m, w, e, r in leases] == [
        (1, None, 7, False),
        (2, None, 3, False),
    ]
    assert [tuple(row) for row in fleet] == [(1, 0, 2)]
    assert registered == 0
    assert {"expires_at", "owned"} <= columns(db, "autoscaler_workers")

    alembic(db, "downgrade", "0006")
    assert current_revision(db) == "0006"
    assert "expires_at" in columns(db, "autoscaler_leases")
    assert "retired" not in columns(db, "autoscaler_leases")
    assert not {"expires_at", "owned"} & columns(db, "autoscaler_workers")
    with db.engine.connect() as conn:
        assert not inspect(conn).has_table("autoscaler_fleet")
        rows = conn.execute(text("SELECT mailbox_id, epoch FROM autoscaler_leases ORDER BY 1"))
        assert [tuple(r) for r in rows] == [(1, 7), (2, 3)]
