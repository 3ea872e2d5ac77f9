"""Benchmarks of warmup-autoscaler (see BENCHMARKS.md)."""
