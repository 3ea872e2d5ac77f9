"""CommandPlatform driving real programs: small Python scripts that record the argv they got and
keep a replica count in a file, plus scripts that fail in each way a command can fail."""

from __future__ import annotations

import json
import stat
import sys
import textwrap
import time
from pathlib import Path

import pytest

from warmup_autoscaler.errors import PlatformError
from warmup_autoscaler.platforms.base import Platform
from warmup_autoscaler.platforms.command import CommandPlatform

# argv[1:] recorded as one JSON line in $RECORD; the first all-digit argument becomes the count
# in $STATE. Run directly through its shebang: nothing goes through a shell.
SCALE = """
import json, os, sys
with open(os.environ["RECORD"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
digits = [a for a in sys.argv[1:] if a.isdigit()]
if digits:
    with open(os.environ["STATE"], "w") as f:
        f.write(digits[0])
"""
COUNT = """
import os
print(open(os.environ["STATE"]).read() if os.path.exists(os.environ["STATE"]) else 0)
"""
FAIL = """
import sys
print("partial output")
print("", file=sys.stderr)
print("boom: the manager is not running", file=sys.stderr)
print("second line", file=sys.stderr)
sys.exit(3)
"""
# Starts a grandchild that holds the pipes open, then hangs: a timeout must kill both.
HANG = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
time.sleep(60)
"""
PRINT = """
import sys
sys.stdout.write(sys.argv[1])
"""


def script(directory: Path, name: str, body: str) -> str:
    """An executable Python script at directory/name; returns its path."""
    path = directory / name
    path.write_text(f"#!{sys.executable}\n{textwrap.dedent(body)}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file the scale script records its calls in; its state file sits beside it."""
    monkeypatch.setenv("RECORD", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("STATE", str(tmp_path / "replicas"))
    return tmp_path / "calls.jsonl"


def calls(record: Path) -> list[list[str]]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_scales_and_counts_through_the_two_commands(tmp_path: Path, record: Path) -> None:
    """scale_to runs the scale command with the count; current_workers parses the count's output."""
    platform = CommandPlatform(
        scale_command=f"{script(tmp_path, 'scale', SCALE)} scale warmup-worker {{replicas}}",
        current_workers_command=script(tmp_path, "count", COUNT),
    )
    assert isinstance(platform, Platform)
    assert platform.name == "command"
    assert platform.current_workers() == 0
    for n in (1, 3, 1, 0):
        platform.scale_to(n)
        assert platform.current_workers() == n
    assert calls(record) == [["scale", "warmup-worker", str(n)] for n in (1, 3, 1, 0)]


def test_placeholder_is_replaced_per_word_and_nothing_is_shell_parsed(
    tmp_path: Path, record: Path
) -> None:
    """Quoted words keep their spaces, {replicas} is replaced inside words, no shell expands."""
    platform = CommandPlatform(
        scale_command=(
            f"{script(tmp_path, 'scale', SCALE)} --label 'warm up pool' "
            "--replicas={replicas} 'x {replicas} y' '$HOME; rm -rf /' '{\"json\": 1}' {replicas}"
        ),
        live_workers=lambda: 0,
    )
    platform.scale_to(7)
    assert calls(record) == [
        [
            "--label",
            "warm up pool",
            "--replicas=7",
            "x 7 y",
            "$HOME; rm -rf /",
            '{"json": 1}',
            "7",
        ]
    ]


def test_live_workers_is_the_count_without_a_command(tmp_path: Path, record: Path) -> None:
    """With no current-workers command, the count is the live_workers callable's answer."""
    live = [2]
    platform = CommandPlatform(
        scale_command=f"{script(tmp_path, 'scale', SCALE)} {{replicas}}",
        live_workers=lambda: live[0],
    )
    assert platform.current_workers() == 2
    live[0] = 5
    assert platform.current_workers() == 5


def test_failing_live_workers_is_a_platform_error(tmp_path: Path) -> None:
    """A registry failure reaches the caller as a PlatformError chained to its cause."""

    def broken() -> int:
        raise RuntimeError("database is down")

    platform = CommandPlatform(scale_command="true {replicas}", live_workers=broken)
    with pytest.raises(PlatformError, match="worker registry: database is down") as caught:
        platform.current_workers()
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_non_zero_exit_quotes_command_code_and_first_stderr_line(tmp_path: Path) -> None:
    """A failing command's error has the command, its exit code and its first stderr line."""
    fail = script(tmp_path, "fail", FAIL)
    platform = CommandPlatform(
        scale_command=f"{fail} scale {{replicas}}", current_workers_command=f"{fail} count"
    )
    with pytest.raises(PlatformError) as caught:
        platform.scale_to(2)
    assert caught.value.message == (
        f"AUTO_SCALER_SCALE_COMMAND: `{fail} scale 2` exited with code 3: "
        "boom: the manager is not running"
    )
    with pytest.raises(PlatformError) as caught:
        platform.current_workers()
    assert caught.value.message == (
        f"AUTO_SCALER_CURRENT_WORKERS_COMMAND: `{fail} count` exited with code 3: "
        "boom: the manager is not running"
    )


def test_python_traceback_reports_its_last_line(tmp_path: Path) -> None:
    """For a Python traceback on stderr, the error line is quoted instead of 'Traceback'."""
    crash = script(tmp_path, "crash", "raise SystemExit(open('/no/such/state').read())\n")
    platform = CommandPlatform(scale_command="true {replicas}", current_workers_command=crash)
    with pytest.raises(PlatformError) as caught:
        platform.current_workers()
    assert caught.value.message.endswith(
        "exited with code 1: FileNotFoundError: [Errno 2] No such file or directory: "
        "'/no/such/state'"
    )


def test_killed_command_reports_the_signal(tmp_path: Path) -> None:
    """A command killed by a signal says which, with no stderr to quote."""
    killed = script(tmp_path, "killed", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    platform = CommandPlatform(scale_command=f"{killed} {{replicas}}", live_workers=lambda: 0)
    with pytest.raises(PlatformError) as caught:
        platform.scale_to(1)
    assert caught.value.message == (
        f"AUTO_SCALER_SCALE_COMMAND: `{killed} 1` was killed by signal 9: (nothing on stderr)"
    )


def test_timeout_kills_the_command_and_its_children(tmp_path: Path) -> None:
    """A command over the timeout is killed with everything it started, and says so."""
    hang = script(tmp_path, "hang", HANG)
    platform = CommandPlatform(
        scale_command=f"{hang} {{replicas}}", live_workers=lambda: 0, timeout_s=0.5
    )
    started = time.monotonic()
    with pytest.raises(PlatformError) as caught:
        platform.scale_to(1)
    assert time.monotonic() - started < 10  # the grandchild sleeps 60 s: it was killed too
    assert caught.value.message == (
        f"AUTO_SCALER_SCALE_COMMAND: `{hang} 1` did not finish within 0.5 s and was killed; "
        "check the command or raise AUTO_SCALER_PLATFORM_COMMAND_TIMEOUT_MS"
    )


@pytest.mark.parametrize("output", ["three", "", "-1", "2.5", "3 workers", "1\n2"])
def test_non_number_output_is_a_platform_error(tmp_path: Path, output: str) -> None:
    """Anything but one whole number on stdout is refused, quoting what was printed."""
    printer = script(tmp_path, "print", PRINT)
    platform = CommandPlatform(
        scale_command="true {replicas}",
        current_workers_command=f"{printer} '{output}'",
    )
    with pytest.raises(PlatformError) as caught:
        platform.current_workers()
    message = caught.value.message
    assert message.startswith(f"AUTO_SCALER_CURRENT_WORKERS_COMMAND `{printer} ")
    assert f"printed {output.strip()!r}, not a whole number of workers" in message


def test_surrounding_whitespace_around_the_number_is_fine(tmp_path: Path) -> None:
    """A number with a trailing newline or spaces around it is read."""
    printer = script(tmp_path, "print", PRINT)
    platform = CommandPlatform(
        scale_command="true {replicas}", current_workers_command=f"{printer} ' 12\n'"
    )
    assert platform.current_workers() == 12


def test_missing_program_names_the_command(tmp_path: Path) -> None:
    """A program that does not exist is a PlatformError naming it."""
    missing = tmp_path / "no-such-manager"
    platform = CommandPlatform(
        scale_command=f"{missing} scale {{replicas}}",
        current_workers_command="no-such-program-on-path-4711 count",
    )
    with pytest.raises(PlatformError) as caught:
        platform.scale_to(1)
    assert caught.value.message.startswith(
        f"AUTO_SCALER_SCALE_COMMAND: cannot run `{missing} scale 1`: No such file or directory"
    )
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    with pytest.raises(PlatformError, match="no-such-program-on-path-4711"):
        platform.current_workers()


def test_not_executable_program_is_a_platform_error(tmp_path: Path) -> None:
    """A file without the execute bit is reported, not raised as PermissionError."""
    path = tmp_path / "plain"
    path.write_text("#!/bin/sh\n")
    path.chmod(0o644)  # no execute bit for anyone: not even root may exec it
    platform = CommandPlatform(scale_command=f"{path} {{replicas}}", live_workers=lambda: 0)
    with pytest.raises(PlatformError, match="Permission denied"):
        platform.scale_to(1)


def test_negative_count_is_refused_before_running(tmp_path: Path, record: Path) -> None:
    """scale_to(-1) runs nothing."""
    platform = CommandPlatform(
        scale_command=f"{script(tmp_path, 'scale', SCALE)} {{replicas}}", live_workers=lambda: 0
    )
    with pytest.raises(PlatformError, match="must be 0 or more"):
        platform.scale_to(-1)
    assert not record.exists()


def test_needs_a_way_to_count() -> None:
    """Without a current-workers command or live_workers, construction names both options."""
    with pytest.raises(PlatformError) as caught:
        CommandPlatform(scale_command="pm2 scale warmup-worker {replicas}")
    message = caught.value.message
    assert "AUTO_SCALER_CURRENT_WORKERS_COMMAND" in message
    assert "worker registry" in message
    with pytest.raises(PlatformError):
        CommandPlatform(scale_command="pm2 scale w {replicas}", current_workers_command="  ")


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("pm2 scale warmup-worker 3", "has no {replicas} placeholder"),
        ("", "AUTO_SCALER_SCALE_COMMAND is empty"),
        ("pm2 scale 'warmup-worker {replicas}", "cannot be split into words"),
    ],
)
def test_bad_scale_command_is_refused_at_construction(command: str, problem: str) -> None:
    """A scale command without the placeholder, empty, or with unbalanced quotes is refused."""
    with pytest.raises(PlatformError) as caught:
        CommandPlatform(scale_command=command, live_workers=lambda: 0)
    assert problem in caught.value.message
    assert "AUTO_SCALER_SCALE_COMMAND" in caught.value.message


def test_bad_current_workers_command_is_refused_at_construction() -> None:
    """Unbalanced quotes in the current-workers command are reported with its variable."""
    with pytest.raises(PlatformError, match=r"AUTO_SCALER_CURRENT_WORKERS_COMMAND=.*quotation"):
        CommandPlatform(scale_command="true {replicas}", current_workers_command="count 'x")
