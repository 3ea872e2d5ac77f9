"""The log lines: JSON off a terminal, key=value on one, for our events and uvicorn's records."""

from __future__ import annotations

import io
import json
import logging

import pytest

from warmup_autoscaler.logs import configure_logging, get_logger


@pytest.fixture
def stderr():
    buffer = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield buffer
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(buffer: io.StringIO) -> list[str]:
    return buffer.getvalue().splitlines()


def test_json_line_has_event_level_logger_time_and_fields(stderr):
    configure_logging("json", "info", stderr)
    get_logger("warmup_autoscaler.controller").info("check", action="scale-up", durationMs=3.1)
    [line] = lines(stderr)
    data = json.loads(line)
    assert data["event"] == "check" and data["level"] == "info"
    assert data["logger"] == "warmup_autoscaler.controller"
    assert data["timestamp"].endswith("Z") and data["timestamp"][:4].isdigit()
    assert (data["action"], data["durationMs"]) == ("scale-up", 3.1)


def test_json_field_named_like_the_head_does_not_overwrite_it(stderr):
    configure_logging("json", "info", stderr)
    get_logger("x").warning("alert", event="capacity_limit", level="critical")
    data = json.loads(lines(stderr)[0])
    assert (data["event"], data["level"]) == ("alert", "warning")
    assert (data["field_event"], data["field_level"]) == ("capacity_limit", "critical")


def test_json_exception_is_one_line_with_the_traceback(stderr):
    configure_logging("json", "info", stderr)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        get_logger("x").exception("observer_failed", observer="metrics")
    [line] = lines(stderr)
    data = json.loads(line)
    assert data["level"] == "error" and data["observer"] == "metrics"
    assert "RuntimeError: boom" in data["exception"] and "Traceback" in data["exception"]


def test_values_json_cannot_encode_are_written_as_text(stderr):
    configure_logging("json", "info", stderr)
    get_logger("x").info("started", path=__import__("pathlib").Path("/tmp/w.db"))
    assert json.loads(lines(stderr)[0])["path"] == "/tmp/w.db"


def test_level_filters_and_uvicorn_records_share_the_format(stderr):
    configure_logging("json", "warning", stderr)
    get_logger("x").info("hidden")
    logging.getLogger("uvicorn.error").warning("Invalid HTTP request received.")
    [line] = lines(stderr)
    data = json.loads(line)
    assert (data["event"], data["logger"], data["level"]) == (
        "Invalid HTTP request received.",
        "uvicorn.error",
        "warning",
    )


def test_console_line_is_readable_key_value(stderr):
    configure_logging("console", "info", stderr)
    get_logger("x").error("check", error="cannot connect", executed=False)
    [line] = lines(stderr)
    assert "[error    ] check" in line
    assert line.endswith("error='cannot connect' executed=False")
    assert "\x1b[" not in line  # no colors when stderr is not a terminal
