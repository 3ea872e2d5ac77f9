"""The thread that notices changes of the watched table and calls `on_change`.

PostgreSQL: a dedicated autocommit psycopg connection LISTENs on the trigger's channel. While the
trigger is not installed (or with `AUTO_SCALER_REACT_METHOD=probe`) it probes the table's
statistics counters every probe interval instead. Every `HEALTH_CHECK_S` it looks at the table and
the trigger again, which also proves the connection alive; a lost connection is re-established
with backoff, and since notifications sent meanwhile are lost, the first connection after a failure
counts as a change. SQLite: `PRAGMA data_version` on a connection of its own (free, but it moves
on any commit to the file), and the mailbox count when it moved: a change is a different count.

A thread rather than asyncio: LISTEN, the probes and the count are blocking driver calls (sqlite3
has no asyncio API), so the thread keeps them and the reconnection loop off the event loop; it
never touches the controller, only calls `on_change`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from warmup_autoscaler.config.table_name import TableName
from warmup_autoscaler.errors import AutoscalerError
from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.store.database import CONNECT_TIMEOUT_S, Database, driver_message
from warmup_autoscaler.watch.trigger import CHANNEL, WatchedTable, resolve_table, trigger_state

__all__ = ["ChangeWatcher"]

log = get_logger("warmup_autoscaler.watch")

WAKE_S = 0.5  # longest wait for a notification before looking at the stop flag and the clock
HEALTH_CHECK_S = 10.0  # how often the table and trigger are looked at again
FIRST_RETRY_S = 0.5  # reconnection backoff: doubled per failure up to MAX_RETRY_S
MAX_RETRY_S = 10.0
KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}
STATS_SQL = """
SELECT pg_stat_get_tuples_inserted(c.oid), pg_stat_get_tuples_updated(c.oid),
       pg_stat_get_tuples_deleted(c.oid), pg_stat_get_live_tuples(c.oid)
FROM pg_class c WHERE c.oid = to_regclass(%(table)s)
"""
_UNSET: Any = object()


class ChangeWatcher:
    """Watches `table` (PostgreSQL) or the mailbox count (SQLite) until `stop()`."""

    def __init__(
        self,
        *,
        db: Database,
        table: TableName,
        method: str,
        probe_interval_ms: int,
        count: Callable[[], int],
        on_change: Callable[[], None],
    ) -> None:
        self.db = db
        self.table = table
        self.method = method  # auto: the trigger where installed, else the probe | probe
        self.probe_interval_s = probe_interval_ms / 1000
        self._count = count
        self._on_change = on_change
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="change-watcher", daemon=True)
        self.mode: str | None = None  # notify | probe, once watching
        self.probes = 0  # probes run so far
        self.connections = 0  # PostgreSQL connections made so far
        self._failure: str | None = None  # the last probe failure logged

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        if self.db.dialect_name == "postgresql":
            self._run_postgres()
        else:
            self._run_sqlite()

    # PostgreSQL

    def _run_postgres(self) -> None:
        retry_s, missed = FIRST_RETRY_S, False
        while not self._stop.is_set():
            connected = False
            try:
                with self._connect() as conn:
                    connected = True
                    self.connections += 1
                    retry_s = FIRST_RETRY_S
                    self._watch_postgres(conn, missed)
            except Exception as exc:
                if self._stop.is_set():
                    break
                self.mode, missed = None, True
                event = "change_watch_lost" if connected else "change_watch_cannot_connect"
                fields = {"error": driver_message(exc), "retryInS": retry_s}
                if _is_driver_error(exc):
                    log.warning(event, **fields)
                else:
                    log.exception(event, **fields)
                self._stop.wait(retry_s)
                retry_s = min(retry_s * 2, MAX_RETRY_S)

    def _connect(self) -> Any:
        import psycopg

        cargs, cparams = self.db.engine.dialect.create_connect_args(self.db.engine.url)
        params = {"connect_timeout": CONNECT_TIMEOUT_S, **KEEPALIVE, **cparams}
        params.setdefault("application_name", "warmup-autoscaler change watch")
        return psycopg.connect(*cargs, **params, autocommit=True)

    def _watch_postgres(self, conn: Any, missed: bool) -> None:
        """Watch on `conn` until stopped or a driver error. `missed`: changes may have gone
        unseen before this connection, so once it watches, that counts as a change."""

        def fetch(sql: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
            rows: Sequence[Sequence[Any]] = conn.execute(sql, params).fetchall()
            return rows

        if self.method == "auto":
            conn.execute(f"LISTEN {CHANNEL}")  # before looking, so nothing falls in between
        target, notify = self._look(fetch)
        last = None if notify else self._stats(fetch, target)
        if missed:
            log.info("change_watch_reconnected", table=str(self.table))
            self._on_change()
        now = time.monotonic()
        next_probe, next_look = now + self.probe_interval_s, now + HEALTH_CHECK_S
        while not self._stop.is_set():
            due = min(next_look, next_probe if not notify else next_look)
            for note in conn.notifies(timeout=max(0.0, min(WAKE_S, due - time.monotonic()))):
                if target is not None and note.payload == target.payload:
                    self._on_change()
            now = time.monotonic()
            if not notify and now >= next_probe:
                next_probe = now + self.probe_interval_s
                value = self._stats(fetch, target)
                if value != last:
                    last = value
                    self._on_change()
            if now >= next_look:
                next_look = now + HEALTH_CHECK_S
                target, now_notify = self._look(fetch)
                if notify and not now_notify:
                    last = self._stats(fetch, target)
                    next_probe = now + self.probe_interval_s
                notify = now_notify

    def _look(self, fetch: Callable[..., Any]) -> tuple[WatchedTable | None, bool]:
        """The table as resolved now, and whether its trigger will notify us."""
        target = resolve_table(fetch, self.table)
        notify = (
            self.method == "auto"
            and target is not None
            and trigger_state(fetch, target) == "current"
        )
        mode = "notify" if notify else "probe"
        if mode != self.mode:
            self.mode = mode
            fields: dict[str, Any] = {"mode": mode, "table": str(self.table)}
            if target is None:
                log.warning("change_watch", **fields, problem="the table does not exist")
            elif not notify and self.method == "auto":
                log.warning(
                    "change_watch",
                    **fields,
                    probeIntervalMs=round(self.probe_interval_s * 1000),
                    problem="the change trigger is not installed: run `warmup-autoscaler db "
                    "init` with AUTO_SCALER_REACT_ON_CHANGE=true, or set "
                    "AUTO_SCALER_REACT_METHOD=probe",
                )
            else:
                log.info("change_watch", **fields)
        return target, notify

    def _stats(self, fetch: Callable[..., Any], target: WatchedTable | None) -> object:
        """The table's insert, update, delete and live-row counters (None without the table)."""
        self.probes += 1
        if target is None:
            return None
        rows = fetch(STATS_SQL, {"table": target.sql})
        return tuple(rows[0]) if rows else None

    # SQLite

    def _run_sqlite(self) -> None:
        raw: Any = None
        version: object = _UNSET
        count: object = _UNSET
        self.mode = "probe"
        log.info("change_watch", mode="probe", probeIntervalMs=round(self.probe_interval_s * 1000))
        try:
            while not self._stop.is_set():
                try:
                    if raw is None:
                        raw = self.db.engine.raw_connection()
                    now_version = raw.driver_connection.execute("PRAGMA data_version").fetchone()
                except (sqlite3.Error, SQLAlchemyError) as exc:
                    self._failed(driver_message(exc))
                    if raw is not None:
                        raw.invalidate()
                        raw = None
                else:
                    if now_version != version:
                        version, now_count = now_version, self._probe_count()
                        if count is not _UNSET and now_count not in (None, count):
                            self._on_change()
                        count = now_count
                self._stop.wait(self.probe_interval_s)
        finally:
            if raw is not None:
                raw.close()

    def _probe_count(self) -> int | None:
        """The mailbox count, or None when it fails (a change is seen once it works again)."""
        self.probes += 1
        try:
            value = self._count()
        except AutoscalerError as exc:
            self._failed(exc.message)
            return None
        self._failure = None
        return value

    def _failed(self, error: str) -> None:
        """Log a probe failure once, not at every probe while it lasts."""
        if error != self._failure:
            self._failure = error
            log.warning("change_probe_failed", error=error)


def _is_driver_error(exc: BaseException) -> bool:
    import psycopg

    return isinstance(exc, psycopg.Error | AutoscalerError)
