"""The lease statements now live in the store (`warmup_autoscaler.store.leases`, with the design
and its invariants); this module keeps their names importable from the worker package, where
jobs build their fenced writes with `lease_fence_sql`."""

from warmup_autoscaler.store.lease_sync import SyncResult
from warmup_autoscaler.store.leases import LeaseStore, lease_fence_sql

__all__ = ["LeaseStore", "SyncResult", "lease_fence_sql"]
