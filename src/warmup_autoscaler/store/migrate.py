"""Versioned migrations of the auto-scaler's tables, run from code (no alembic.ini).

`upgrade` is cheap when the database is already at `HEAD_REVISION`: one plain query, and Alembic is
imported only when there is something to do, to keep the daemon small. The version table is our
own, `autoscaler_alembic_version`, so a user's Alembic history on the same database is left alone.
Two processes upgrading at once queue on a lock (a PostgreSQL advisory lock, SQLite's write lock).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, inspect, text

from warmup_autoscaler.errors import StoreError
from warmup_autoscaler.store.database import Database, guarded

__all__ = ["HEAD_REVISION", "VERSION_TABLE", "current_revision", "upgrade"]

VERSION_TABLE = "autoscaler_alembic_version"
HEAD_REVISION = "0007"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATION_LOCK_KEY = 0x7761726D  # pg_advisory_xact_lock key, 'warm'; any constant will do

_HINT = "check DATABASE_URL and that its user may create tables in that database"


def current_revision(db: Database) -> str | None:
    """The revision the database is at, or None before the first migration."""
    with guarded(db, "reading the auto-scaler's schema version", write=False, hint=_HINT) as conn:
        return _read_revision(conn)


def upgrade(db: Database) -> None:
    """Bring the auto-scaler's tables to `HEAD_REVISION`; a no-op when they are there already."""
    if current_revision(db) == HEAD_REVISION:
        return
    try:
        with guarded(db, "migrating the auto-scaler's tables", write=True, hint=_HINT) as conn:
            if db.dialect_name == "postgresql":
                lock = text("SELECT pg_advisory_xact_lock(:key)")
                conn.execute(lock, {"key": MIGRATION_LOCK_KEY})
            _run_alembic(conn)
    except StoreError:
        raise
    except Exception as exc:  # Alembic's own errors (a broken or unknown revision)
        raise StoreError(
            f"migrating the auto-scaler's tables failed: {exc}; the database may have been "
            "migrated by a newer warmup-autoscaler, check the installed version"
        ) from exc


def _read_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    value = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    return None if value is None else str(value)


def _run_alembic(conn: Connection) -> None:
    """Run the migrations inside the caller's transaction, which Alembic leaves to it to commit."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
