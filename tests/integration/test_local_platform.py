"""LocalPlatform against real worker processes: small Python scripts that report what happened
to them through files, so every check polls for an outcome instead of sleeping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.logs import capture_events
from warmup_autoscaler.errors import PlatformError
from warmup_autoscaler.platforms.base import Platform
from warmup_autoscaler.platforms.local import LocalPlatform

TIMEOUT_S = 15.0
LOGGER = "warmup_autoscaler.platforms.local"

# argv: mode, out_dir. It writes out_dir/ready-<pid>, term-<pid> or crash-<pid>, holding its index.
# Modes: graceful (exit 0 on SIGTERM), stubborn (ignore SIGTERM), crash (exit 1 at once),
# exit0 (exit 0 at once), together (on SIGTERM, exit only once $SIBLINGS workers got SIGTERM).
WORKER = textwrap.dedent(
    """
    import os, pathlib, signal, sys, time
    mode, out = sys.argv[1], pathlib.Path(sys.argv[2])
    index, pid = os.environ["AUTO_SCALER_WORKER_INDEX"], os.getpid()
    terminated = False

    def mark(kind):
        tmp = out / f".{kind}-{pid}"
        tmp.write_text(index)
        tmp.rename(out / f"{kind}-{pid}")

    def on_term(signum, frame):
        global terminated
        terminated = True
        mark("term")
        if mode == "graceful":
            sys.exit(0)

    if mode in ("crash", "exit0"):
        mark("crash")
        sys.exit(1 if mode == "crash" else 0)
    signal.signal(signal.SIGTERM, on_term)
    token = os.environ.get("AUTO_SCALER_ADMIN_TOKEN")
    print(f"worker {index} says hello on stdout extra={os.environ.get('EXTRA')} token={token!r}", flush=True)
    print(f"worker {index} says hello on stderr", file=sys.stderr, flush=True)
    mark("ready")
    while True:
        if terminated and mode == "together":
            if len(list(out.glob("term-*"))) >= int(os.environ["SIBLINGS"]):
                sys.exit(0)
        time.sleep(0.01)
    """
)


def wait_until(predicate: Callable[[], object], timeout: float = TIMEOUT_S) -> None:
    """Poll `predicate` until it is truthy; fail the test if the deadline passes first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s: {predicate}")
        time.sleep(0.01)


def alive(pid: int) -> bool:
    """True if `pid` exists in the process table and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def marks(out: Path, kind: str) -> dict[int, int]:
    """{pid: worker index} for every `kind` file the workers wrote."""
    return {int(f.name.split("-")[1]): int(f.read_text()) for f in out.glob(f"{kind}-*")}


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


@pytest.fixture
def make(tmp_path: Path, out: Path) -> Iterator[Callable[..., LocalPlatform]]:
    """Build started platforms running WORKER in a mode; close them all and check none survive."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    made: list[LocalPlatform] = []

    def build(mode: str = "graceful", **kwargs: object) -> LocalPlatform:
        kwargs.setdefault("log_dir", tmp_path / "logs" / "nested")
        kwargs.setdefault("stop_grace_s", 10.0)
        kwargs.setdefault("poll_interval_s", 0.02)
        platform = LocalPlatform(command=[sys.executable, str(script), mode, str(out)], **kwargs)
        platform.start()
        made.append(platform)
        return platform

    yield build
    for platform in made:
        platform.close()
    assert [pid for pid in marks(out, "ready") if alive(pid)] == []


def ready(platform: LocalPlatform, out: Path, n: int) -> dict[int, int]:
    """Wait until slots 0..n-1 each have a live worker that wrote its ready file: {slot: pid}."""

    def live_slots() -> dict[int, int]:
        return {slot: pid for pid, slot in marks(out, "ready").items() if alive(pid)}

    wait_until(lambda: platform.current_workers() == n and sorted(live_slots()) == list(range(n)))
    return live_slots()


def test_satisfies_platform_protocol(make: Callable[..., LocalPlatform]) -> None:
    """LocalPlatform is a Platform named "local"."""
    platform = make()
    assert isinstance(platform, Platform)
    assert platform.name == "local"


def test_scale_up_then_down_keeps_slot_zero(make: Callable[..., LocalPlatform], out: Path) -> None:
    """Scaling 0 -> 3 -> 1 runs slots 0..2, then keeps only slot 0's original process."""
    platform = make()
    assert platform.current_workers() == 0
    platform.scale_to(3)
    assert platform.current_workers() == 3
    pids = ready(platform, out, 3)
    assert marks(out, "ready") == {pid: slot for slot, pid in pids.items()}
    assert all(alive(pid) for pid in pids.values())

    platform.scale_to(1)

    assert platform.current_workers() == 1
    assert alive(pids[0])
    assert not alive(pids[1]) and not alive(pids[2])


def test_scale_down_stops_newest_first(make: Callable[..., LocalPlatform], out: Path) -> None:
    """Scaling 3 -> 2 sends SIGTERM to slot 2's worker only."""
    platform = make()
    platform.scale_to(3)
    pids = ready(platform, out, 3)

    platform.scale_to(2)

    assert marks(out, "term") == {pids[2]: 2}
    assert platform.current_workers() == 2 and alive(pids[0]) and alive(pids[1])


def test_worker_ignoring_sigterm_is_killed_after_grace(
    make: Callable[..., LocalPlatform], out: Path
) -> None:
    """A worker that ignores SIGTERM gets SIGKILL once the grace period is over."""
    platform = make("stubborn", stop_grace_s=0.5)
    platform.scale_to(1)
    pid = ready(platform, out, 1)[0]

    with capture_events(LOGGER) as events:
        platform.scale_to(0)

    assert marks(out, "term") == {pid: 0}
    assert not alive(pid)
    assert {"event": "local_worker_killed", "log_level": "warning", "pid": pid, "graceS": 0.5} in (
        events
    )


def test_workers_are_stopped_together(make: Callable[..., LocalPlatform], out: Path) -> None:
    """Workers stopped at once all get SIGTERM before any grace runs out (no one-by-one stop)."""
    platform = make("together", env={"SIBLINGS": "3"})
    platform.scale_to(3)
    pids = ready(platform, out, 3)

    with capture_events(LOGGER) as events:
        platform.scale_to(0)

    assert marks(out, "term") == {pid: slot for slot, pid in pids.items()}
    assert not any(e["event"] == "local_worker_killed" for e in events)


def test_worker_index_env_and_log_file(
    make: Callable[..., LocalPlatform], out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each worker sees its slot in AUTO_SCALER_WORKER_INDEX, not the daemon's admin token (set
    empty, over any `.env`), and writes stdout+stderr to its log."""
    monkeypatch.setenv("AUTO_SCALER_ADMIN_TOKEN", "the-daemons-admin-token")
    log_dir = tmp_path / "logs" / "nested"
    platform = make(log_dir=log_dir, env={"EXTRA": "yes"})
    platform.scale_to(2)
    pids = ready(platform, out, 2)

    for slot in (0, 1):
        assert marks(out, "ready")[pids[slot]] == slot
        log_path = log_dir / f"worker-{slot}.log"
        wait_until(lambda p=log_path: "stderr" in p.read_text())
        assert log_path.read_text().splitlines() == [
            f"worker {slot} says hello on stdout extra=yes token=''",
            f"worker {slot} says hello on stderr",
        ]


@pytest.mark.parametrize(("mode", "code"), [("crash", 1), ("exit0", 0)])
def test_exited_worker_is_restarted_with_doubling_backoff(
    make: Callable[..., LocalPlatform], out: Path, mode: str, code: int
) -> None:
    """A worker that exits on its own is restarted, counted, and logged with a doubling backoff."""
    with capture_events(LOGGER) as events:
        platform = make(mode, restart_backoff_s=0.1, max_backoff_s=0.4)
        platform.scale_to(1)

        def restarts() -> list[dict[str, object]]:
            return [e for e in events if e["event"] == "local_worker_restarted"]

        wait_until(lambda: len(restarts()) >= 4)
        platform.scale_to(0)

    assert set(marks(out, "crash").values()) == {0}
    exits = [e for e in events if e["event"] == "local_worker_exited"]
    assert [e["restartInS"] for e in exits[:4]] == [0.1, 0.2, 0.4, 0.4]
    assert {(e["slot"], e["code"]) for e in exits} == {(0, code)}
    assert [e["restarts"] for e in restarts()[:4]] == [1, 2, 3, 4]


def test_close_stops_everything(make: Callable[..., LocalPlatform], out: Path) -> None:
    """close() stops every worker, is idempotent, and later scale_to calls fail."""
    platform = make()
    platform.scale_to(3)
    pids = ready(platform, out, 3)

    platform.close()
    platform.close()

    assert marks(out, "term") == {pid: slot for slot, pid in pids.items()}
    assert not any(alive(pid) for pid in pids.values())
    assert platform.current_workers() == 0
    with pytest.raises(PlatformError, match="closed"):
        platform.scale_to(1)


def test_workers_outlive_the_calling_thread(make: Callable[..., LocalPlatform], out: Path) -> None:
    """A worker started by scale_to from a short-lived thread survives that thread's end."""
    platform = make()
    caller = threading.Thread(target=platform.scale_to, args=(1,))
    caller.start()
    caller.join()
    first = ready(platform, out, 1)[0]

    platform.scale_to(2)
    ready(platform, out, 2)

    assert marks(out, "term") == {}
    assert alive(first)


def test_workers_get_sigterm_when_the_daemon_dies(tmp_path: Path, out: Path) -> None:
    """If the daemon is SIGKILLed, Linux sends its workers SIGTERM (parent-death signal)."""
    if sys.platform != "linux":
        pytest.skip("PR_SET_PDEATHSIG is Linux-only")
    (tmp_path / "worker.py").write_text(WORKER)
    daemon = textwrap.dedent(
        f"""
        import sys, threading
        from pathlib import Path
        from warmup_autoscaler.platforms.local import LocalPlatform
        p = LocalPlatform(command=[sys.executable, {str(tmp_path / "worker.py")!r}, "graceful",
                                   {str(out)!r}], log_dir=Path({str(tmp_path / "logs")!r}))
        p.start()
        p.scale_to(1)
        threading.Event().wait()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", daemon])
    try:
        wait_until(lambda: marks(out, "ready"))
        [pid] = marks(out, "ready")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        wait_until(lambda: not alive(pid))
        assert marks(out, "term") == {pid: 0}
    finally:
        proc.kill()
        proc.wait()
        for pid in marks(out, "ready"):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("kind", ["missing", "not executable"])
def test_unstartable_command_names_the_setting(tmp_path: Path, kind: str) -> None:
    """A program that is missing or not executable gives a PlatformError naming the variable."""
    program = tmp_path / "no-such-worker"
    if kind == "not executable":
        program.write_text("#!/bin/sh\n")
        program.chmod(0o644)
    platform = LocalPlatform(command=[str(program), "--flag"], log_dir=tmp_path / "logs")
    try:
        with pytest.raises(PlatformError) as caught:
            platform.scale_to(1)
    finally:
        platform.close()

    message = caught.value.message
    assert message.startswith(f"cannot start worker command '{program}': ")
    assert message.endswith("; check AUTO_SCALER_LOCAL_WORKER_COMMAND")
    assert isinstance(caught.value.__cause__, OSError)
    assert platform.current_workers() == 0


def test_missing_program_message(tmp_path: Path) -> None:
    """A missing program's message says "No such file or directory" like the shell would."""
    platform = LocalPlatform(command=["no-such-worker-program"], log_dir=tmp_path / "logs")
    try:
        with pytest.raises(PlatformError) as caught:
            platform.scale_to(1)
    finally:
        platform.close()
    assert caught.value.message == (
        "cannot start worker command 'no-such-worker-program': No such file or directory; "
        "check AUTO_SCALER_LOCAL_WORKER_COMMAND"
    )
