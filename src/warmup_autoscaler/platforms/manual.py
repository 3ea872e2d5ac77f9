"""A platform for operators who scale by hand: it reports a count and only recommends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.platforms.base import BasePlatform, PlatformContext, PlatformSettings

__all__ = ["ManualPlatform", "ManualSettings"]

log = get_logger(__name__)


class ManualSettings(PlatformSettings):
    model_config = SettingsConfigDict(env_prefix="AUTO_SCALER_MANUAL_")

    workers: int | None = Field(None, ge=0)  # unset: the live workers in the registry


class ManualPlatform(BasePlatform[ManualSettings]):
    """Executes nothing, so the auto-scaler can run beside workers an operator starts by hand.

    `current_workers()` is the count the operator declared (AUTO_SCALER_MANUAL_WORKERS), or else
    `count()`: the live workers in the registry, however they were started (by hand, PM2, ...).
    Each `scale_to(n)` logs a warning recommending `n`; the journal keeps every recommendation.
    """

    name = "manual"
    settings_class = ManualSettings

    def __init__(self, *, workers: int | None = None, count: Callable[[], int] | None = None):
        if workers is None and count is None:
            raise ValueError("ManualPlatform needs a fixed count or a way to count workers")
        self._workers = workers
        self._count = count

    @classmethod
    def from_settings(cls, settings: ManualSettings, context: PlatformContext) -> Self:
        if settings.workers is not None:
            return cls(workers=settings.workers)
        return cls(count=context.live_workers)

    def current_workers(self) -> int:
        if self._workers is not None:
            return self._workers
        assert self._count is not None
        return self._count()

    def _scale_to(self, workers: int) -> None:
        log.warning("manual_scale_recommended", workers=workers, executed=False)
