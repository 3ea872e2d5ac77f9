"""The change trigger and the watcher against real PostgreSQL and SQLite."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from sqlalchemy import text

from tests.support.logs import capture_events
from tests.support.settings import make_settings
from warmup_autoscaler.config import DEFAULT_QUERY, ReactSettings
from warmup_autoscaler.config.table_name import parse_table_name
from warmup_autoscaler.errors import StoreError
from warmup_autoscaler.sensor import MailboxCounter
from warmup_autoscaler.store import Database, create_demo_tables, set_active_count
from warmup_autoscaler.watch import watcher as watcher_module
from warmup_autoscaler.watch.trigger import (
    CHANNEL,
    HINT,
    apply_trigger_setting,
    install_change_trigger,
    remove_change_trigger,
)
from warmup_autoscaler.watch.watcher import ChangeWatcher

if TYPE_CHECKING:
    from tests.support.postgres import PgServer

INSTALLED = (
    "change trigger autoscaler_notify_change on public.mailboxes: installed "
    "(NOTIFY autoscaler_change after every INSERT, UPDATE, DELETE or TRUNCATE)"
)


def poll(predicate: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
    return value


def react(**values: Any) -> ReactSettings:
    return make_settings(for_platform=False, **values).react


def raw(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url.replace("+psycopg", ""), autocommit=True)


def triggers(db: Database) -> list[tuple[str, str]]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT tgrelid::regclass::text, tgname FROM pg_trigger "
                "WHERE tgname LIKE 'autoscaler%' ORDER BY 1"
            )
        )
        return [(r[0], r[1]) for r in rows]


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    db = Database(postgres_url)
    create_demo_tables(db)
    yield db
    db.dispose()


def notifications_until_marker(listener: psycopg.Connection[Any], marker: str) -> list[str]:
    """The payloads received on our channel up to the marker notification (sent last)."""
    payloads = []
    for note in listener.notifies(timeout=30):
        if note.payload == marker:
            return payloads
        payloads.append(note.payload)
    raise AssertionError(f"no marker within 30 s; got {payloads}")


# The trigger, as `db init` installs it


def test_db_init_installs_the_trigger_when_opted_in_and_is_idempotent(pg: Database) -> None:
    """Opted in on PostgreSQL, db init installs the trigger once and then leaves it as it is."""
    wanted = react(react_on_change=True)
    assert apply_trigger_setting(pg, wanted) == INSTALLED
    assert triggers(pg) == [("mailboxes", "autoscaler_notify_change")]
    assert apply_trigger_setting(pg, wanted) == (
        "change trigger autoscaler_notify_change on public.mailboxes: already installed"
    )
    assert triggers(pg) == [("mailboxes", "autoscaler_notify_change")]


def test_one_notification_per_transaction_naming_the_table(pg: Database) -> None:
    """Statements of one transaction fold into one NOTIFY at commit, its payload the table."""
    install_change_trigger(pg, parse_table_name("mailboxes"))
    with raw(pg.url) as listener, raw(pg.url) as writer:
        listener.execute(f"LISTEN {CHANNEL}")
        with writer.transaction():
            writer.execute("INSERT INTO mailboxes (email) VALUES ('a@x'), ('b@x')")
            writer.execute("UPDATE mailboxes SET status = 'paused' WHERE email = 'a@x'")
            writer.execute("DELETE FROM mailboxes WHERE email = 'b@x'")
        writer.execute("TRUNCATE mailboxes")
        writer.execute("SELECT pg_notify(%s, 'marker')", (CHANNEL,))
        assert notifications_until_marker(listener, "marker") == [
            "public.mailboxes",
            "public.mailboxes",
        ]


def test_quoted_schema_and_table_names(pg: Database) -> None:
    """Names needing quotes are quoted everywhere: the trigger installs and notifies."""
    with pg.engine.begin() as conn:
        conn.execute(text('CREATE SCHEMA "Sales Data"'))
        conn.execute(text('CREATE TABLE "Sales Data"."Mail""Boxes" (id int)'))
    table = parse_table_name('"Sales Data"."Mail""Boxes"')
    assert install_change_trigger(pg, table).startswith(
        'change trigger autoscaler_notify_change on "Sales Data"."Mail""Boxes": installed'
    )
    with raw(pg.url) as listener, raw(pg.url) as writer:
        listener.execute(f"LISTEN {CHANNEL}")
        writer.execute('INSERT INTO "Sales Data"."Mail""Boxes" VALUES (1)')
        writer.execute("SELECT pg_notify(%s, 'marker')", (CHANNEL,))
        assert notifications_until_marker(listener, "marker") == ['"Sales Data"."Mail""Boxes"']
    assert remove_change_trigger(pg, table).endswith(": removed")


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        ({}, "left in place (AUTO_SCALER_REACT_ON_CHANGE=false)"),
        (
            {"react_on_change": True, "react_method": "probe"},
            "left in place (AUTO_SCALER_REACT_METHOD=probe)",
        ),
    ],
)
def test_not_opted_in_leaves_an_installed_trigger_alone(pg, overrides, said) -> None:
    """Without the opt-in db init neither installs nor removes; it says how to remove it."""
    install_change_trigger(pg, parse_table_name("mailboxes"))
    assert apply_trigger_setting(pg, react(**overrides)) == (
        f"change trigger autoscaler_notify_change on public.mailboxes: {said}; "
        "remove it with `warmup-autoscaler db remove-trigger`"
    )
    assert triggers(pg) == [("mailboxes", "autoscaler_notify_change")]


def test_not_opted_in_installs_nothing(pg: Database) -> None:
    """Off by default: db init installs no trigger and says nothing about it."""
    assert apply_trigger_setting(pg, react()) is None
    assert triggers(pg) == []


def test_remove_trigger_removes_it_and_its_function(pg: Database) -> None:
    """`db remove-trigger` drops the trigger and its function, and is idempotent."""
    table = parse_table_name("mailboxes")
    install_change_trigger(pg, table)
    assert remove_change_trigger(pg, table) == (
        "change trigger autoscaler_notify_change on public.mailboxes: removed"
    )
    assert triggers(pg) == []
    with pg.engine.connect() as conn:
        assert conn.execute(text("SELECT to_regproc('autoscaler_notify_change')")).scalar() is None
    assert remove_change_trigger(pg, table) == (
        "no change trigger autoscaler_notify_change on public.mailboxes: nothing to remove"
    )


def test_install_errors_say_what_to_do(pg: Database) -> None:
    """A missing table, a view, or a user who does not own the table: each a clear error."""
    with pg.engine.begin() as conn:
        conn.execute(text("CREATE VIEW active AS SELECT * FROM mailboxes"))
    with pytest.raises(StoreError) as missing:
        install_change_trigger(pg, parse_table_name("nope"))
    assert missing.value.message == (
        "installing the change trigger failed: table nope does not exist; set "
        "AUTO_SCALER_REACT_TABLE to the table AUTO_SCALER_MAILBOX_QUERY counts (or create the "
        "demo table with `warmup-autoscaler db init --demo`)"
    )
    with pytest.raises(StoreError) as view:
        install_change_trigger(pg, parse_table_name("active"))
    assert view.value.message == (
        "installing the change trigger failed: public.active is not a table (a view?); set "
        "AUTO_SCALER_REACT_TABLE to the table itself, or AUTO_SCALER_REACT_METHOD=probe"
    )
    role = f"clerk_{uuid.uuid4().hex[:8]}"
    with pg.engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"GRANT CREATE ON SCHEMA public TO {role}"))
    clerk = Database(pg.url.replace("postgres@", f"{role}@"))
    try:
        with pytest.raises(StoreError) as owner:
            install_change_trigger(clerk, parse_table_name("mailboxes"))
    finally:
        clerk.dispose()
        with pg.engine.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
    assert owner.value.message == (
        "installing the change trigger on mailboxes failed: permission denied for table mailboxes; "
        + HINT
    )
    assert triggers(pg) == []


# The watcher


class Changes:
    """Counts the watcher's on_change calls (made on its thread)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.count += 1


@pytest.fixture
def watch() -> Iterator[Callable[..., tuple[ChangeWatcher, Changes]]]:
    started: list[ChangeWatcher] = []

    def start(db: Database, *, method: str = "auto") -> tuple[ChangeWatcher, Changes]:
        changes = Changes()
        watcher = ChangeWatcher(
            db=db,
            table=parse_table_name("mailboxes"),
            method=method,
            probe_interval_ms=100,
            count=MailboxCounter(db, DEFAULT_QUERY).count,
            on_change=changes,
        )
        watcher.start()
        started.append(watcher)
        return watcher, changes

    yield start
    for watcher in started:
        watcher.stop()


def insert_and_disconnect(url: str, email: str) -> None:
    """One committed insert from a session that then ends (its statistics are flushed)."""
    with raw(url) as conn:
        conn.execute("INSERT INTO mailboxes (email) VALUES (%s)", (email,))


def test_notify_reaches_the_watcher(pg: Database, watch) -> None:
    """With the trigger installed the watcher listens, and a commit calls on_change."""
    install_change_trigger(pg, parse_table_name("mailboxes"))
    watcher, changes = watch(pg)
    poll(lambda: watcher.mode == "notify", "the watcher to listen")
    assert changes.count == 0
    insert_and_disconnect(pg.url, "a@x")
    poll(lambda: changes.count == 1, "on_change after the insert")


@pytest.mark.parametrize("method", ["auto", "probe"])
def test_postgres_probe_without_trigger_sees_a_change(pg: Database, watch, method) -> None:
    """Without the trigger (or with method probe) the table's statistics counters show it."""
    if method == "probe":
        install_change_trigger(pg, parse_table_name("mailboxes"))  # present, but not used
    with capture_events() as events:
        watcher, changes = watch(pg, method=method)
        poll(lambda: watcher.probes >= 2, "two probes")
    assert watcher.mode == "probe"
    warned = [e for e in events if e["event"] == "change_watch" and e["log_level"] == "warning"]
    assert len(warned) == (1 if method == "auto" else 0)
    assert changes.count == 0
    insert_and_disconnect(pg.url, "a@x")
    poll(lambda: changes.count == 1, "on_change after the insert")


def test_watcher_follows_the_trigger_being_installed_and_removed(pg, watch, monkeypatch) -> None:
    """The watcher looks again every health check: it listens once the trigger is there and
    goes back to probing once it is gone, without a restart."""
    monkeypatch.setattr(watcher_module, "HEALTH_CHECK_S", 0.1)
    table = parse_table_name("mailboxes")
    watcher, changes = watch(pg)
    poll(lambda: watcher.mode == "probe", "probing")
    install_change_trigger(pg, table)
    poll(lambda: watcher.mode == "notify", "listening")
    remove_change_trigger(pg, table)
    poll(lambda: watcher.mode == "probe", "probing again")
    insert_and_disconnect(pg.url, "a@x")
    poll(lambda: changes.count >= 1, "on_change from the probe")


def test_listen_connection_comes_back_after_a_server_restart(
    pg_server: PgServer, pg: Database, watch
) -> None:
    """A server restart drops the LISTEN connection; it is re-established with backoff, counted
    as a change (notifications sent meanwhile are lost), and notifications flow again."""
    install_change_trigger(pg, parse_table_name("mailboxes"))
    with capture_events() as events:
        watcher, changes = watch(pg)
        poll(lambda: watcher.mode == "notify", "the watcher to listen")
        with pg.engine.connect() as conn:  # the test server's commits are asynchronous:
            conn.execute(text("CHECKPOINT"))  # make the trigger survive the crash-like stop
        pg_server.stop()
        pg_server.start()
        poll(lambda: watcher.connections == 2 and watcher.mode == "notify", "a new connection")
        poll(lambda: changes.count == 1, "the reconnection counted as a change")
        insert_and_disconnect(pg.url, "a@x")
        poll(lambda: changes.count == 2, "on_change after the insert")
    names = [e["event"] for e in events]
    assert "change_watch_lost" in names
    assert "change_watch_reconnected" in names


def test_sqlite_probe_sees_inserts_and_updates_but_not_other_tables(sqlite_url, watch) -> None:
    """On SQLite the probe counts when the file changed: a different count is a change, a write
    elsewhere (journal, heartbeats) is not."""
    db = Database(sqlite_url)
    try:
        create_demo_tables(db)
        set_active_count(db, 5)
        watcher, changes = watch(db)
        poll(lambda: watcher.probes >= 1, "the first probe")
        set_active_count(db, 8)
        poll(lambda: changes.count == 1, "on_change after the insert")
        set_active_count(db, 3)
        poll(lambda: changes.count == 2, "on_change after the update")
        probes = watcher.probes
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE other (x int)"))
            conn.execute(text("INSERT INTO other VALUES (1)"))
        poll(lambda: watcher.probes > probes, "a probe after the other write")
        assert changes.count == 2
    finally:
        db.dispose()
