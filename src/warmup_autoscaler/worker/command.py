"""`warmup-autoscaler worker`: run one warmup worker in this process until SIGTERM or SIGINT.

Raises `ConfigError` (exit 2) for a job that cannot be loaded and `StoreError` (exit 1) when the
worker's tables are missing; a database that is merely unreachable is retried, not fatal.
"""

from __future__ import annotations

import asyncio
import os

from warmup_autoscaler.config import Settings
from warmup_autoscaler.errors import MissingTablesError, StoreError
from warmup_autoscaler.logs import configure_logging, get_logger
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.worker.jobs import load_job
from warmup_autoscaler.worker.registry import Registry, WorkerIdentity
from warmup_autoscaler.worker.runtime import Worker, WorkerConfig

__all__ = ["INDEX_VAR", "run_worker"]

INDEX_VAR = "AUTO_SCALER_WORKER_INDEX"  # set by the local platform for each worker it starts

log = get_logger("warmup_autoscaler.worker")


def run_worker(settings: Settings) -> int:
    """Run a worker with `settings` until it is stopped and drained; returns the exit code."""
    configure_logging(settings.log_format, settings.log_level)
    job = load_job(settings.worker_job)
    db = Database(settings.sqlalchemy_url, query_timeout_ms=settings.query_timeout_ms)
    try:
        _check_tables(db, settings.worker_lease_ttl_ms)
        me = WorkerIdentity.create(name=settings.worker_name, index=os.environ.get(INDEX_VAR))
        worker = Worker(db, WorkerConfig.from_settings(settings), me, job)
        return asyncio.run(worker.run())
    finally:
        db.dispose()


def _check_tables(db: Database, lease_ttl_ms: int) -> None:
    """Fail fast when the tables are missing; only log when the database cannot be reached."""
    try:
        Registry(db, lease_ttl_ms=lease_ttl_ms).live_active_ids()
    except MissingTablesError:
        raise
    except StoreError as exc:
        log.warning("database_unavailable_at_start", error=exc.message)
