"""`worker-alive`: the age of the worker's heartbeat file against max-age, one line, exit code."""

from __future__ import annotations

import os
import time

import pytest

from warmup_autoscaler import liveness
from warmup_autoscaler.config import WorkerSettings


def test_the_probe_reads_the_workers_own_variables():
    """The probe's variables are the worker settings' (it reads them without the settings class)."""
    assert WorkerSettings.env_name("heartbeat_file") == liveness.FILE_VAR
    assert WorkerSettings.env_name("lease_ttl_ms") == liveness.TTL_VAR


@pytest.mark.parametrize(
    ("age_s", "args", "env", "code", "line"),
    [
        (2, ["--max-age", "30"], {}, 0, "alive: last heartbeat 2.0 s ago"),
        (40, ["--max-age", "30"], {}, 1, "not alive: last heartbeat 40 s ago (over 30 s)"),
        (40, [], {}, 1, "not alive: last heartbeat 40 s ago (over 30 s)"),
        (
            40,
            [],
            {"AUTO_SCALER_WORKER_LEASE_TTL_MS": "60000"},
            0,
            "alive: last heartbeat 40.0 s ago",
        ),
        (None, [], {}, 1, "not alive: no heartbeat yet"),
    ],
)
def test_alive_while_the_last_heartbeat_is_recent(
    tmp_path, monkeypatch, capsys, age_s, args, env, code, line
):
    """Exit 0 within max-age (default: the lease TTL), 1 past it or with no file yet."""
    beat = tmp_path / "beat"
    if age_s is not None:
        beat.touch()
        then = time.time() - age_s
        os.utime(beat, (then, then))
    monkeypatch.setenv(liveness.FILE_VAR, str(beat))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert liveness.main(args) == code
    out = capsys.readouterr()
    assert (out.out + out.err).startswith(line)


def test_without_a_file_it_is_a_usage_error(capsys):
    """No AUTO_SCALER_WORKER_HEARTBEAT_FILE and no --file: exit 2 saying what to set."""
    with pytest.raises(SystemExit) as exit_:
        liveness.main([])
    assert exit_.value.code == 2
    assert "set AUTO_SCALER_WORKER_HEARTBEAT_FILE (for the worker too) or pass --file" in (
        capsys.readouterr().err
    )


def test_an_unwritable_file_is_logged_once(tmp_path, caplog):
    """A heartbeat file that cannot be written is a warning, once, never an exception."""
    path = tmp_path / "missing-folder" / "beat"
    for _ in range(3):
        liveness.touch_heartbeat(path)
    assert [r.message for r in caplog.records].count("heartbeat_file_failed") == 1
