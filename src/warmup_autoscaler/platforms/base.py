"""What the controller needs from a platform: read the worker count and set it. Nothing more."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Platform"]


@runtime_checkable
class Platform(Protocol):
    """A place where warmup workers run.

    Both calls may block (the controller runs them in a thread) and raise only
    `warmup_autoscaler.errors.PlatformError`, with a message that says what to check.
    """

    name: str

    def current_workers(self) -> int:
        """How many workers the platform runs (or is starting) now."""
        ...

    def scale_to(self, workers: int) -> None:
        """Make the platform run `workers` workers; returns once the change is under way."""
        ...
