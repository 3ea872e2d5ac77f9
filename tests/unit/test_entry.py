"""The console script's entry: `run` and `worker` start without the Typer app; the rest use it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from warmup_autoscaler import entry
from warmup_autoscaler.config import ENV_FILE_VAR


@pytest.mark.parametrize(
    ("args", "command", "env_file"),
    [
        (["run"], "start_daemon", ".env"),
        (["worker"], "start_worker", ".env"),
        (["--env-file", "prod.env", "run"], "start_daemon", "prod.env"),
        (["--env-file=prod.env", "worker"], "start_worker", "prod.env"),
    ],
)
def test_long_running_commands_skip_the_cli(monkeypatch, args, command, env_file):
    monkeypatch.delenv(ENV_FILE_VAR, raising=False)
    called: list[tuple[str, Path | None]] = []
    for name in ("start_daemon", "start_worker"):
        monkeypatch.setattr(entry, name, lambda f, _n=name: called.append((_n, f)))
    found = entry._long_running(args)
    assert found is not None
    found()
    assert called == [(command, Path(env_file))]


def test_env_file_variable_is_read_like_the_option(monkeypatch):
    monkeypatch.setenv(ENV_FILE_VAR, "from-env.env")
    called: list[Path | None] = []
    monkeypatch.setattr(entry, "start_daemon", called.append)
    found = entry._long_running(["run"])
    assert found is not None
    found()
    assert called == [Path("from-env.env")]


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--help"],
        ["--help"],
        ["status"],
        ["--env-file"],
        ["--env-file", "x"],
        ["db", "init"],
    ],
)
def test_everything_else_goes_to_the_typer_app(args):
    assert entry._long_running(args) is None


def test_the_daemon_and_worker_paths_load_no_cli_libraries():
    """The resident memory the daemon saves: typer and rich stay out of `run` and `worker`."""
    code = (
        "import sys\n"
        "import warmup_autoscaler.entry, warmup_autoscaler.daemon, warmup_autoscaler.logs\n"
        "import warmup_autoscaler.worker.command\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'rich', 'structlog'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_liveness_probe_loads_neither_settings_nor_sqlalchemy(tmp_path):
    """`worker-alive` (run by a probe every few seconds) imports no pydantic, SQLAlchemy or typer."""
    beat = tmp_path / "beat"
    beat.touch()
    code = (
        "import sys\n"
        "from warmup_autoscaler import entry\n"
        "try:\n"
        f"    entry.main(['worker-alive', '--file', {str(beat)!r}])\n"
        "except SystemExit as exit:\n"
        "    heavy = {'typer', 'rich', 'pydantic', 'pydantic_settings', 'sqlalchemy'}\n"
        "    print(exit.code, sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 []"
