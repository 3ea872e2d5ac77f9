"""Structured logs on the standard `logging` module: one JSON object per line off a terminal,
readable `key=value` on one.

Code logs an event name and fields, `log.info("check", action="scale-up", durationMs=3.1)`,
through `get_logger(name)`; the fields travel on the record as `record.fields`. Other libraries'
records (uvicorn's) go through the same handler, their message as the event.

The JSON line: `{"timestamp": ..., "level": ..., "logger": ..., "event": ..., <fields>}` and
`exception` (the formatted traceback) when there is one.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, TextIO

__all__ = ["EventLogger", "configure_logging", "fields_of", "get_logger"]

_HEAD = ("timestamp", "level", "logger", "event")


class EventLogger:
    """A logger whose calls take an event name and fields: `log.info("check", action=...)`."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def _emit(self, level: int, event: str, fields: dict[str, Any], exc_info: bool = False) -> None:
        if self.logger.isEnabledFor(level):
            extra = {"fields": fields} if fields else None
            self.logger.log(level, event, exc_info=exc_info, extra=extra, stacklevel=3)

    def debug(self, event: str, /, **fields: Any) -> None:
        self._emit(logging.DEBUG, event, fields)

    def info(self, event: str, /, **fields: Any) -> None:
        self._emit(logging.INFO, event, fields)

    def warning(self, event: str, /, **fields: Any) -> None:
        self._emit(logging.WARNING, event, fields)

    def error(self, event: str, /, **fields: Any) -> None:
        self._emit(logging.ERROR, event, fields)

    def exception(self, event: str, /, **fields: Any) -> None:
        """An error with the traceback of the exception being handled."""
        self._emit(logging.ERROR, event, fields, exc_info=True)


def get_logger(name: str) -> EventLogger:
    return EventLogger(logging.getLogger(name))


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The fields an `EventLogger` call attached to `record` (empty for other records)."""
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, Mapping) else {}


def _timestamp(record: logging.LogRecord) -> str:
    at = datetime.fromtimestamp(record.created, UTC)
    return at.isoformat(timespec="microseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in fields_of(record).items():
            line[f"field_{key}" if key in _HEAD else key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """`2026-03-01 09:00:00 [info     ] check   action='scale-up' durationMs=3.1`."""

    COLORS: ClassVar[dict[str, str]] = {
        "DEBUG": "\x1b[2m",
        "INFO": "\x1b[32m",
        "WARNING": "\x1b[33m",
        "ERROR": "\x1b[31m",
        "CRITICAL": "\x1b[31;1m",
    }

    def __init__(self, *, colors: bool) -> None:
        super().__init__()
        self.colors = colors

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
        level = f"[{record.levelname.lower():<9}]"
        if self.colors:
            level = f"{self.COLORS.get(record.levelname, '')}{level}\x1b[0m"
        text = f"{at} {level} {record.getMessage():<30}"
        fields = " ".join(f"{k}={v!r}" for k, v in sorted(fields_of(record).items()))
        if fields:
            text = f"{text} {fields}"
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return text.rstrip()


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Send every logger (ours and uvicorn's) through one formatter on `stream` (stderr)."""
    out = sys.stderr if stream is None else stream
    terminal = out.isatty()
    json_out = fmt == "json" or (fmt == "auto" and not terminal)
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if json_out else ConsoleFormatter(colors=terminal))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
