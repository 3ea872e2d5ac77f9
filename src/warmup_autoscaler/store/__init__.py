"""The auto-scaler's database room: engine, migrations, state and journal, and the demo data."""

from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.demo import create_demo_tables, seed_mailboxes, set_active_count
from warmup_autoscaler.store.migrate import HEAD_REVISION, VERSION_TABLE, current_revision, upgrade
from warmup_autoscaler.store.state import CheckRecord, ScalerState, StateStore

__all__ = [
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
