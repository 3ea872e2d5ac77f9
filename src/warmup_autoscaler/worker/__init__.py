"""The warmup worker runtime: registry, mailbox leases, cycle scheduling and graceful drain.

A worker registers and heartbeats in `autoscaler_workers`, owns mailboxes through fenced leases
in `autoscaler_leases` (fair share, rebalanced when workers join or leave), and runs the
configured job on each owned mailbox every cycle interval. See `runtime` for its states.
"""

from warmup_autoscaler.worker.jobs import Cycle, Job, load_job, record_job
from warmup_autoscaler.worker.leases import LeaseStore, SyncResult
from warmup_autoscaler.worker.ownership import LeaseKeeper, Tick, fair_target, pick_excess
from warmup_autoscaler.worker.registry import WorkerIdentity
from warmup_autoscaler.worker.runtime import CycleStats, Worker, WorkerConfig

__all__ = [
    "Cycle",
    "CycleStats",
    "Job",
    "LeaseKeeper",
    "LeaseStore",
    "SyncResult",
    "Tick",
    "Worker",
    "WorkerConfig",
    "WorkerIdentity",
    "fair_target",
    "load_job",
    "pick_excess",
    "record_job",
]
