"""The PostgreSQL trigger that announces every change of the watched table with NOTIFY.

One statement-level trigger (AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE, FOR EACH STATEMENT)
and its function, both named `autoscaler_notify_change`, in the table's schema. Each statement
sends one notification on `CHANNEL` with the table's qualified name as payload; PostgreSQL folds
identical notifications of one transaction into one and delivers it at commit. Installing is
idempotent and takes the table's lock only when the trigger is missing or differs from ours.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from warmup_autoscaler.config import ReactSettings
from warmup_autoscaler.config.table_name import TableName
from warmup_autoscaler.errors import StoreError
from warmup_autoscaler.store.database import Database, guarded

__all__ = [
    "CHANNEL",
    "FUNCTION",
    "TRIGGER",
    "WatchedTable",
    "apply_trigger_setting",
    "install_change_trigger",
    "remove_change_trigger",
    "resolve_table",
    "trigger_state",
]

CHANNEL = "autoscaler_change"
TRIGGER = "autoscaler_notify_change"
FUNCTION = "autoscaler_notify_change"
LOCK_TIMEOUT_MS = 5000  # db init gives up rather than queue behind a long transaction on the table
# pg_trigger.tgtype of ours: statement-level AFTER, INSERT 4 | DELETE 8 | UPDATE 16 | TRUNCATE 32
TRIGGER_TYPE = 60
HINT = (
    "run `warmup-autoscaler db init` as the table's owner while the table is not locked, "
    "or set AUTO_SCALER_REACT_METHOD=probe to watch it without a trigger"
)

# Every statement goes to psycopg as a template with %(name)s parameters (so a literal % is
# written %%): db init runs them through SQLAlchemy, the watcher on its own psycopg connection.
RESOLVE_SQL = """
SELECT n.nspname, c.relname, c.relkind, format('%%I.%%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass(%(table)s)
"""
STATE_SQL = """
SELECT t.tgtype = %(type)s AND t.tgenabled <> 'D'
       AND p.proname = %(function)s AND p.pronamespace = c.relnamespace
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_proc p ON p.oid = t.tgfoid
WHERE t.tgrelid = to_regclass(%(table)s) AND t.tgname = %(trigger)s
"""
FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $autoscaler$
BEGIN
    PERFORM pg_notify('{channel}', format('%%I.%%I', TG_TABLE_SCHEMA, TG_TABLE_NAME));
    RETURN NULL;
END
$autoscaler$
"""
CREATE_SQL = """
CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION {function}()
"""
COMMENT = "warmup-autoscaler: NOTIFY {channel} after each statement (AUTO_SCALER_REACT_ON_CHANGE)"

Fetch = Callable[[str, dict[str, Any]], Sequence[Sequence[Any]]]


@dataclass(frozen=True, kw_only=True)
class WatchedTable:
    """The table as the database resolved it; `payload` is what its notifications carry."""

    schema: str
    name: str
    kind: str  # pg_class.relkind: r table, p partitioned table, v view, ...
    payload: str

    @property
    def sql(self) -> str:
        return TableName(schema=self.schema, name=self.name).sql

    @property
    def function_sql(self) -> str:
        return TableName(schema=self.schema, name=FUNCTION).sql


def resolve_table(fetch: Fetch, table: TableName) -> WatchedTable | None:
    """The table `table` names on the connection's search path, or None if there is none."""
    rows = fetch(RESOLVE_SQL, {"table": table.sql})
    if not rows:
        return None
    schema, name, kind, payload = rows[0]
    return WatchedTable(schema=schema, name=name, kind=kind, payload=payload)


def trigger_state(fetch: Fetch, table: WatchedTable) -> str:
    """'current' (ours, enabled, as we install it), 'outdated' (ours but changed) or 'missing'."""
    rows = fetch(
        STATE_SQL,
        {"table": table.sql, "trigger": TRIGGER, "function": FUNCTION, "type": TRIGGER_TYPE},
    )
    if not rows:
        return "missing"
    return "current" if rows[0][0] else "outdated"


def install_change_trigger(db: Database, table: TableName) -> str:
    """Install (or bring up to date) the trigger on `table`; says what was done."""
    with guarded(db, f"installing the change trigger on {table}", write=True, hint=HINT) as conn:
        fetch = _fetcher(conn)
        target = _existing_table(fetch, table)
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
        conn.exec_driver_sql(FUNCTION_SQL.format(function=target.function_sql, channel=CHANNEL))
        state = trigger_state(fetch, target)
        what = f"change trigger {TRIGGER} on {target.payload}"
        if state == "current":
            return f"{what}: already installed"
        if state == "outdated":
            conn.exec_driver_sql(f"DROP TRIGGER {TRIGGER} ON {target.sql}")
        create = CREATE_SQL.format(trigger=TRIGGER, table=target.sql, function=target.function_sql)
        conn.exec_driver_sql(create)
        comment = COMMENT.format(channel=CHANNEL).replace("'", "''")
        conn.exec_driver_sql(f"COMMENT ON TRIGGER {TRIGGER} ON {target.sql} IS '{comment}'")
    done = "replaced" if state == "outdated" else "installed"
    return f"{what}: {done} (NOTIFY {CHANNEL} after every INSERT, UPDATE, DELETE or TRUNCATE)"


def remove_change_trigger(db: Database, table: TableName) -> str:
    """Remove the trigger from `table`, and its function once no table uses it; says what."""
    with guarded(db, f"removing the change trigger from {table}", write=True, hint=HINT) as conn:
        fetch = _fetcher(conn)
        target = resolve_table(fetch, table)
        if target is None:
            return f"no change trigger to remove: table {table} does not exist"
        if trigger_state(fetch, target) == "missing":
            return f"no change trigger {TRIGGER} on {target.payload}: nothing to remove"
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
        conn.exec_driver_sql(f"DROP TRIGGER {TRIGGER} ON {target.sql}")
        users = fetch(
            "SELECT count(*) FROM pg_trigger WHERE tgfoid = to_regprocedure(%(f)s)",
            {"f": f"{target.function_sql}()"},
        )
        if users[0][0] == 0:
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {target.function_sql}()")
    return f"change trigger {TRIGGER} on {target.payload}: removed"


def apply_trigger_setting(db: Database, react: ReactSettings) -> str | None:
    """What `db init` does about the trigger: install it when opted in on PostgreSQL; otherwise
    install nothing, leave an installed one in place, and say so. Returns the line to print."""
    table = react.table_name
    probing = (
        f"the daemon probes for changes every {react.probe_interval_ms} ms "
        f"({react.env_name('probe_interval_ms')})"
    )
    if db.dialect_name != "postgresql":
        return f"change trigger: none on SQLite; {probing}" if react.on_change else None
    if react.on_change and react.method == "auto":
        return install_change_trigger(db, table)
    with guarded(db, f"looking for the change trigger on {table}", write=False) as conn:
        fetch = _fetcher(conn)
        target = resolve_table(fetch, table)
        present = target is not None and trigger_state(fetch, target) != "missing"
    why = (
        f"{react.env_name('method')}=probe"
        if react.on_change
        else f"{react.env_name('on_change')}=false"
    )
    if present and target is not None:
        return (
            f"change trigger {TRIGGER} on {target.payload}: left in place ({why}); "
            "remove it with `warmup-autoscaler db remove-trigger`"
        )
    return f"change trigger: not installed ({why}); {probing}" if react.on_change else None


def _existing_table(fetch: Fetch, table: TableName) -> WatchedTable:
    target = resolve_table(fetch, table)
    if target is None:
        raise StoreError(
            f"installing the change trigger failed: table {table} does not exist; set "
            "AUTO_SCALER_REACT_TABLE to the table AUTO_SCALER_MAILBOX_QUERY counts "
            "(or create the demo table with `warmup-autoscaler db init --demo`)"
        )
    if target.kind not in ("r", "p"):
        raise StoreError(
            f"installing the change trigger failed: {target.payload} is not a table (a view?); "
            "set AUTO_SCALER_REACT_TABLE to the table itself, or AUTO_SCALER_REACT_METHOD=probe"
        )
    return target


def _fetcher(conn: Connection) -> Fetch:
    return lambda sql, params: conn.exec_driver_sql(sql, params).all()
