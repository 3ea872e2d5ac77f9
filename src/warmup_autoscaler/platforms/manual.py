"""A platform for operators who scale by hand: it reports a fixed count and only recommends."""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["ManualPlatform"]

log = logging.getLogger(__name__)


class ManualPlatform:
    """Executes nothing, so the auto-scaler can run beside workers an operator starts by hand.

    `current_workers()` is the count the operator declared (AUTO_SCALER_MANUAL_WORKERS), or else
    `count()`: the live workers in the registry, however they were started (by hand, PM2, ...).
    Each `scale_to(n)` logs a warning and keeps `n` in `recommended` for the status API.
    """

    name = "manual"

    def __init__(self, *, workers: int | None = None, count: Callable[[], int] | None = None):
        if workers is None and count is None:
            raise ValueError("ManualPlatform needs a fixed count or a way to count workers")
        self._workers = workers
        self._count = count
        self.recommended: int | None = None

    def current_workers(self) -> int:
        if self._workers is not None:
            return self._workers
        assert self._count is not None
        return self._count()

    def scale_to(self, workers: int) -> None:
        self.recommended = workers
        log.warning("manual platform: scale to %d workers recommended; nothing executed", workers)
