"""Helpers shared by the tests and the benchmarks (real services started on demand)."""
