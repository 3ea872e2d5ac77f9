"""What a platform is: the protocol the controller calls, and the base every plugin builds on.

The controller needs only `current_workers()` and `scale_to(n)`; the daemon also calls `start()`
once before the first check and `close()` once after the last. A plugin subclasses
`BasePlatform`, which gives the no-op lifecycle and refuses a negative count in one place, and
names its own settings class (`settings_class`), read from the same environment as the rest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, Self, TypeVar, runtime_checkable

from pydantic import AliasChoices, Field

from warmup_autoscaler.config.base import SettingsGroup
from warmup_autoscaler.errors import PlatformError

__all__ = [
    "BasePlatform",
    "NoSettings",
    "Platform",
    "PlatformContext",
    "PlatformSettings",
    "TimeoutSettings",
]


@runtime_checkable
class Platform(Protocol):
    """A place where warmup workers run.

    `current_workers` and `scale_to` may block (the controller runs them in a thread) and raise
    only `warmup_autoscaler.errors.PlatformError`, with a message that says what to check.
    """

    @property
    def name(self) -> str:
        """The platform's name (AUTO_SCALER_PLATFORM)."""
        ...

    def current_workers(self) -> int:
        """How many workers the platform runs (or is starting) now."""
        ...

    def scale_to(self, workers: int) -> None:
        """Make the platform run `workers` workers; returns once the change is under way."""
        ...

    def start(self) -> None:
        """Called once before the first check."""
        ...

    def close(self) -> None:
        """Called once after the last check; releases what the platform holds (idempotent)."""
        ...


class PlatformSettings(SettingsGroup):
    """A platform's own settings; the base has none."""


class NoSettings(PlatformSettings):
    """For a platform without settings of its own."""


class TimeoutSettings(PlatformSettings):
    """Settings of platforms that run a command or call an API: its time limit."""

    platform_command_timeout_ms: int = Field(
        120_000, gt=0, validation_alias=AliasChoices("AUTO_SCALER_PLATFORM_COMMAND_TIMEOUT_MS")
    )

    @property
    def timeout_s(self) -> float:
        return self.platform_command_timeout_ms / 1000


@dataclass(frozen=True, kw_only=True)
class PlatformContext:
    """What a platform may use of the rest of the system.

    `live_workers` counts the live workers registered in the database (through the store, on the
    daemon's own connection pool), for platforms that cannot count their workers themselves.
    """

    live_workers: Callable[[], int]


S = TypeVar("S", bound=PlatformSettings)


class BasePlatform(ABC, Generic[S]):
    """The base of every platform plugin: lifecycle no-ops and the count guard.

    `supervises_workers`: the workers are children of the daemon and stop with it, so the daemon
    brings the fleet back to its last size when it starts again (the local platform).
    """

    name: ClassVar[str]
    settings_class: ClassVar[type[PlatformSettings]] = NoSettings
    supervises_workers: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: S, context: PlatformContext) -> Self:
        """Build the platform from its settings (already validated)."""

    def start(self) -> None:
        """Nothing to start by default."""

    def close(self) -> None:
        """Nothing to release by default."""

    @abstractmethod
    def current_workers(self) -> int:
        """How many workers the platform runs (or is starting) now."""

    def scale_to(self, workers: int) -> None:
        """Make the platform run `workers` workers (0 or more)."""
        if workers < 0:
            raise PlatformError(f"cannot scale to {workers} workers; the count must be 0 or more")
        self._scale_to(workers)

    @abstractmethod
    def _scale_to(self, workers: int) -> None:
        """Set the count; `workers` is 0 or more."""
