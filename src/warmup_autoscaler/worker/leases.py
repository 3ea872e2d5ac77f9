"""The lease statements now live in the store (`warmup_autoscaler.store.leases`, with the design
and its invariants); this module keeps their names importable from the worker package, where
jobs build their fenced writes with `lease_fence_sql`."""

from warmup_autoscaler.store.leases import lease_fence_sql

__all__ = ["lease_fence_sql"]
