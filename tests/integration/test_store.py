"""The store against real SQLite and PostgreSQL: migrations, state, journal and demo data."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from warmup_autoscaler.errors import StoreError
from warmup_autoscaler.store import (
    HEAD_REVISION,
    VERSION_TABLE,
    CheckRecord,
    Database,
    ScalerState,
    StateStore,
    create_demo_tables,
    current_revision,
    seed_mailboxes,
    set_active_count,
    upgrade,
)
from warmup_autoscaler.store.history import HistoryStore
from warmup_autoscaler.store.migrate import MIGRATIONS_DIR
from warmup_autoscaler.store.schema import metadata
from warmup_autoscaler.store.worker_schema import worker_metadata

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def tables(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def count(db: Database, sql: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def test_dialect_name(db: Database, database_url: str) -> None:
    """The dialect name is the backend of the URL."""
    assert db.dialect_name == database_url.split(":")[0].split("+")[0]


def test_upgrade_creates_tables_and_is_idempotent(db: Database) -> None:
    """The first upgrade creates the tables at head; later ones change nothing."""
    assert current_revision(db) is None
    upgrade(db)
    assert current_revision(db) == HEAD_REVISION
    assert {"autoscaler_state", "autoscaler_checks", VERSION_TABLE} <= tables(db)
    upgrade(db)
    assert current_revision(db) == HEAD_REVISION
    assert count(db, f"SELECT COUNT(*) FROM {VERSION_TABLE}") == 1


def test_version_table_leaves_the_users_alembic_alone(db: Database) -> None:
    """A user's own `alembic_version` keeps its revision; ours lives in its own table."""
    with db.begin_write() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('users_rev_42')"))
    upgrade(db)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [
            ("users_rev_42",)
        ]
    assert VERSION_TABLE == "autoscaler_alembic_version"
    assert current_revision(db) == HEAD_REVISION


def test_concurrent_upgrades_do_not_crash(database_url: str) -> None:
    """Several processes' worth of engines upgrading at once all succeed, and migrate once."""
    databases = [Database(database_url) for _ in range(4)]
    barrier = threading.Barrier(len(databases))
    errors: list[BaseException] = []

    def run(db: Database) -> None:
        barrier.wait()
        try:
            upgrade(db)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert current_revision(databases[0]) == HEAD_REVISION
        assert count(databases[0], f"SELECT COUNT(*) FROM {VERSION_TABLE}") == 1
    finally:
        for d in databases:
            d.dispose()


def test_upgrades_from_separate_processes_do_not_crash(database_url: str) -> None:
    """Three processes started together all upgrade successfully."""
    code = (
        "import sys; from warmup_autoscaler.store import Database, upgrade; "
        "upgrade(Database(sys.argv[1]))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    db = Database(database_url)
    try:
        assert current_revision(db) == HEAD_REVISION
    finally:
        db.dispose()


def test_public_surface() -> None:
    """The store package exports exactly its documented names."""
    import warmup_autoscaler.store as store

    assert sorted(store.__all__) == sorted(
        [
            "HEAD_REVISION",
            "VERSION_TABLE",
            "CheckRecord",
            "Database",
            "ScalerState",
            "StateStore",
            "create_demo_tables",
            "current_revision",
            "seed_mailboxes",
            "set_active_count",
            "upgrade",
        ]
    )
    assert all(hasattr(store, name) for name in store.__all__)


def test_head_revision_is_the_scripts_head() -> None:
    """HEAD_REVISION names the newest migration script, so `upgrade` never stops short."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]


def test_migrations_match_the_schema(db: Database) -> None:
    """The hand-written migrations create exactly what the schemas describe (ours, the workers',
    the warmup job's)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from warmup_autoscaler.store.lead_times import lead_time_metadata
    from warmup_autoscaler.warmup.schema import warmup_metadata

    upgrade(db)
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(
            context, [metadata, worker_metadata, lead_time_metadata, warmup_metadata]
        ) == []


def test_upgrade_on_unreachable_database_says_what_to_check(tmp_path: Path) -> None:
    """A database that cannot be opened gives a StoreError naming DATABASE_URL."""
    db = Database(f"sqlite:///{tmp_path}")  # a directory, not a file
    try:
        with pytest.raises(StoreError, match="DATABASE_URL") as caught:
            upgrade(db)
        assert isinstance(caught.value.__cause__, SQLAlchemyError)
    finally:
        db.dispose()


def test_unusable_url_is_a_store_error(tmp_path: Path) -> None:
    """A URL whose folder cannot be created is refused with a StoreError naming DATABASE_URL."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="DATABASE_URL"):
        Database(f"sqlite:///{blocker}/sub/warmup.db")


def test_sqlite_parent_folder_is_created(tmp_path: Path) -> None:
    """A SQLite file in a missing folder gets its folder, and runs in WAL mode."""
    db = Database(f"sqlite:///{tmp_path}/a/b/warmup.db")
    try:
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert (tmp_path / "a" / "b").is_dir()
    finally:
        db.dispose()


def test_state_starts_empty(db: Database) -> None:
    """Before any save, both cooldown times are None."""
    upgrade(db)
    assert StateStore(db).load() == ScalerState(last_scale_up_at=None, last_scale_down_at=None)


def test_state_round_trip_is_utc_aware(db: Database) -> None:
    """Saved times come back equal, timezone-aware in UTC, whatever zone they were saved in."""
    upgrade(db)
    store = StateStore(db)
    plus_two = timezone(timedelta(hours=2))
    store.save(ScalerState(last_scale_up_at=T0.astimezone(plus_two), last_scale_down_at=None))
    later = T0 + timedelta(seconds=1.5)
    store.save(ScalerState(last_scale_up_at=T0, last_scale_down_at=later))
    loaded = store.load()
    assert loaded == ScalerState(last_scale_up_at=T0, last_scale_down_at=later)
    assert loaded.last_scale_up_at is not None and loaded.last_scale_up_at.tzinfo == UTC
    assert count(db, "SELECT COUNT(*) FROM autoscaler_state") == 1


def test_state_rows_are_per_scaler_name(db: Database) -> None:
    """Two scaler names keep separate state."""
    upgrade(db)
    StateStore(db, "a").save(ScalerState(last_scale_up_at=T0, last_scale_down_at=None))
    assert StateStore(db, "b").load().last_scale_up_at is None
    assert StateStore(db, "a").load().last_scale_up_at == T0


def test_journal_records_and_lists_newest_first(db: Database) -> None:
    """Recorded checks come back whole through the history, with ids, last recorded first."""
    upgrade(db)
    store = StateStore(db)
    full = CheckRecord(
        checked_at=T0 + timedelta(minutes=5),
        trigger="interval",
        mailbox_count=12_345,
        current_workers=10,
        target_workers=11,
        optimal_workers=13,
        action="scale-up",
        reason="utilization 123.5% >= 80%",
        utilization_percent=123.45,
        executed=True,
        error=None,
        duration_ms=12.5,
    )
    failed = CheckRecord(checked_at=T0, trigger="startup", error="the mailbox query failed")
    latest = CheckRecord(checked_at=T0 + timedelta(minutes=10), trigger="api", action="no-change")
    ids = [store.record_check(rec) for rec in (full, failed, latest)]
    assert len(set(ids)) == 3
    recent = HistoryStore(db).checks()
    assert [r.id for r in recent] == [ids[2], ids[1], ids[0]]
    assert recent[2] == CheckRecord(**{**full.__dict__, "id": ids[0]})
    assert recent[1].executed is False and recent[1].mailbox_count is None
    assert all(r.checked_at.tzinfo == UTC for r in recent)
    assert [r.id for r in HistoryStore(db).checks(limit=1)] == [ids[2]]


def test_store_without_tables_says_to_init(db: Database) -> None:
    """Using the store before the migrations gives a StoreError telling to run `db init`."""
    store = StateStore(db)
    for call in (
        store.load,
        lambda: store.save(ScalerState(last_scale_up_at=None, last_scale_down_at=None)),
        lambda: store.record_check(CheckRecord(checked_at=T0, trigger="api")),
        HistoryStore(db).checks,
    ):
        with pytest.raises(StoreError, match="warmup-autoscaler db init") as caught:
            call()
        assert isinstance(caught.value.__cause__, SQLAlchemyError)
        assert "[SQL:" not in caught.value.message


def test_seed_and_set_active_count(db: Database) -> None:
    """Seeding adds unique mailboxes; set_active_count makes exactly n active, the rest paused."""
    create_demo_tables(db)
    create_demo_tables(db)
    seen: list[int] = []
    assert seed_mailboxes(db, 1234, batch_size=500, progress=seen.append) == 1234
    assert seen == [500, 1000, 1234]
    assert count(db, "SELECT COUNT(DISTINCT email) FROM mailboxes") == 1234
    set_active_count(db, 100)
    assert count(db, "SELECT COUNT(*) FROM mailboxes WHERE status = 'active'") == 100
    assert count(db, "SELECT COUNT(*) FROM mailboxes WHERE status = 'paused'") == 1134
    set_active_count(db, 0)
    assert count(db, "SELECT COUNT(*) FROM mailboxes WHERE status = 'active'") == 0
    set_active_count(db, 2000)
    assert count(db, "SELECT COUNT(*) FROM mailboxes WHERE status = 'active'") == 2000
    assert count(db, "SELECT COUNT(*) FROM mailboxes") == 2000


def test_seed_continues_numbering(db: Database) -> None:
    """A second seed numbers its emails after the existing rows, with the given status."""
    create_demo_tables(db)
    seed_mailboxes(db, 3)
    seed_mailboxes(db, 2, status="paused")
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT email, status FROM mailboxes ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [
        ("mailbox-000001@warmup.test", "active"),
        ("mailbox-000002@warmup.test", "active"),
        ("mailbox-000003@warmup.test", "active"),
        ("mailbox-000004@warmup.test", "paused"),
        ("mailbox-000005@warmup.test", "paused"),
    ]


def test_demo_without_table_says_to_init_demo(db: Database) -> None:
    """Seeding before the demo table exists tells to run `db init --demo`."""
    for call in (lambda: seed_mailboxes(db, 5), lambda: set_active_count(db, 5)):
        with pytest.raises(StoreError, match=r"warmup-autoscaler db init --demo"):
            call()
