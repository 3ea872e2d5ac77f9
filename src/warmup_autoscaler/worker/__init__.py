"""The warmup worker runtime: ownership decisions, cycle scheduling, jobs and graceful drain.

A worker registers and heartbeats in `autoscaler_workers`, owns mailboxes through fenced leases
in `autoscaler_leases` (its share, rebalanced when workers join or leave), and runs the
configured job on each owned mailbox every cycle interval. The statements are the store's
(`store.registry`, `store.leases`, `store.lease_sync`); see `runtime` for the worker's states.
"""

from warmup_autoscaler.store.lease_sync import SyncPolicy
from warmup_autoscaler.store.registry import WorkerIdentity
from warmup_autoscaler.worker.jobs import Cycle, Job, load_job, record_job
from warmup_autoscaler.worker.ownership import (
    LeaseKeeper,
    Tick,
    fair_target,
    pick_excess,
    to_release,
)
from warmup_autoscaler.worker.runtime import CycleStats, Worker, WorkerConfig

__all__ = [
    "Cycle",
    "CycleStats",
    "Job",
    "LeaseKeeper",
    "SyncPolicy",
    "Tick",
    "Worker",
    "WorkerConfig",
    "WorkerIdentity",
    "fair_target",
    "load_job",
    "pick_excess",
    "record_job",
    "to_release",
]
