"""One root exception; each subclass's docstring is its default message.

Driver errors (SQLAlchemy/psycopg, subprocess, HTTP) are wrapped into these at the boundary of
the room that calls the driver, with ``raise ... from exc``, so the controller, the API and the
CLI never see a driver's exception type.
"""

from __future__ import annotations

__all__ = [
    "AutoscalerError",
    "ConfigError",
    "CountError",
    "MissingTablesError",
    "NotLeaderError",
    "PlatformError",
    "SeriesError",
    "StoreError",
]


class AutoscalerError(Exception):
    """The auto-scaler failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigError(AutoscalerError):
    """The configuration is invalid."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems) or "The configuration is invalid.")


class CountError(AutoscalerError):
    """The active mailboxes could not be counted."""


class PlatformError(AutoscalerError):
    """The platform could not read or set the number of workers."""


class StoreError(AutoscalerError):
    """The auto-scaler's own tables could not be read or written."""


class MissingTablesError(StoreError):
    """The auto-scaler's tables are missing: run `warmup-autoscaler db init`."""


class NotLeaderError(AutoscalerError):
    """This auto-scaler is not the leader: another instance checks and scales."""


class SeriesError(AutoscalerError):
    """The series of mailbox counts to simulate is invalid."""
