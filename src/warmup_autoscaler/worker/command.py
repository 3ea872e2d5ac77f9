"""`warmup-autoscaler worker`: run one warmup worker in this process until SIGTERM or SIGINT.

Raises `ConfigError` (exit 2) for a job that cannot be loaded and `StoreError` (exit 1) when the
worker's tables are missing; a database that is merely unreachable is retried, not fatal.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from warmup_autoscaler.config import WORKER_INDEX_VAR, Settings, load_settings
from warmup_autoscaler.errors import MissingTablesError, StoreError
from warmup_autoscaler.logs import configure_logging, get_logger
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.registry import Registry, WorkerIdentity
from warmup_autoscaler.worker.jobs import JobContext, load_job
from warmup_autoscaler.worker.runtime import Worker, WorkerConfig

__all__ = ["run_worker", "start"]

log = get_logger("warmup_autoscaler.worker")


def start(env_file: Path | None) -> int:
    """`warmup-autoscaler worker`: read the settings (a worker runs no platform) and run."""
    return run_worker(load_settings(env_file, for_platform=False))


def run_worker(settings: Settings) -> int:
    """Run a worker with `settings` until it is stopped and drained; returns the exit code."""
    configure_logging(settings.logs.format, settings.logs.level)
    database = settings.database
    db = Database(database.sqlalchemy_url, query_timeout_ms=database.query_timeout_ms)
    try:
        job = load_job(settings.worker.job, JobContext(db=db, settings=settings))
        _check_tables(db, settings.worker.lease_ttl_ms)
        me = WorkerIdentity.create(
            name=settings.worker.name, index=os.environ.get(WORKER_INDEX_VAR)
        )
        worker = Worker(db, WorkerConfig.from_settings(settings), me, job)
        return asyncio.run(worker.run())
    finally:
        db.dispose()


def _check_tables(db: Database, lease_ttl_ms: int) -> None:
    """Fail fast when the tables are missing; only log when the database cannot be reached."""
    try:
        Registry(db, lease_ttl_ms=lease_ttl_ms).check()
    except MissingTablesError:
        raise
    except StoreError as exc:
        log.warning("database_unavailable_at_start", error=exc.message)
