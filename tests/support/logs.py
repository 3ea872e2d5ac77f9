"""Capture what our loggers emit, as dicts: `event`, `log_level` and the fields."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from warmup_autoscaler.logs import fields_of

__all__ = ["capture_events"]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(
            {
                "event": record.getMessage(),
                "log_level": record.levelname.lower(),
                **fields_of(record),
            }
        )


@contextmanager
def capture_events(logger: str = "warmup_autoscaler") -> Iterator[list[dict[str, Any]]]:
    """Every record of `logger` and its children at any level, while the block runs."""
    handler, target = _Collect(), logging.getLogger(logger)
    old_level = target.level
    target.addHandler(handler)
    target.setLevel(logging.DEBUG)
    try:
        yield handler.events
    finally:
        target.removeHandler(handler)
        target.setLevel(old_level)
