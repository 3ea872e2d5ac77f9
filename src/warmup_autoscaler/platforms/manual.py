"""A platform for operators who scale by hand: it reports a fixed count and only recommends."""

from __future__ import annotations

import logging

__all__ = ["ManualPlatform"]

log = logging.getLogger(__name__)


class ManualPlatform:
    """Executes nothing, so the auto-scaler can run beside workers an operator starts by hand.

    `current_workers()` is the count the operator declared (AUTO_SCALER_MANUAL_WORKERS); each
    `scale_to(n)` logs a warning and keeps `n` in `recommended` for the status API.
    """

    name = "manual"

    def __init__(self, *, workers: int) -> None:
        self._workers = workers
        self.recommended: int | None = None

    def current_workers(self) -> int:
        return self._workers

    def scale_to(self, workers: int) -> None:
        self.recommended = workers
        log.warning("manual platform: scale to %d workers recommended; nothing executed", workers)
