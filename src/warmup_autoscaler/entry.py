"""The `warmup-autoscaler` command's entry point.

`run` and `worker`, the two long-running commands, start here without loading the CLI (typer and
the rest of cli.py: about 1.5 MB of resident memory in every daemon and every worker process).
`worker-alive`, the workers' liveness probe, starts here without loading even the settings
classes (run every few seconds, it costs a Python start-up and no more). Everything else,
`--help` included, goes to the Typer app in `warmup_autoscaler.cli`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from warmup_autoscaler.errors import AutoscalerError, ConfigError

__all__ = ["main", "start_daemon", "start_worker"]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line; configuration errors exit 2, other known failures 1."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["worker-alive"]:
        from warmup_autoscaler.liveness import main as worker_alive

        sys.exit(worker_alive(args[1:]))
    try:
        command = _long_running(args)
        if command is not None:
            command()
        else:
            from warmup_autoscaler.cli import app

            app(args=args, prog_name="warmup-autoscaler")
    except ConfigError as exc:
        for line in exc.problems:
            print(f"config error: {line}", file=sys.stderr)
        sys.exit(2)
    except AutoscalerError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def _long_running(args: list[str]) -> Callable[[], None] | None:
    """`[--env-file PATH] run|worker` with nothing else: the command to run; otherwise None."""
    from warmup_autoscaler.config import ENV_FILE_VAR

    env_file = Path(os.environ.get(ENV_FILE_VAR) or ".env")
    rest = list(args)
    while rest and rest[0].startswith("--env-file"):
        option = rest.pop(0)
        if option.startswith("--env-file="):
            env_file = Path(option.removeprefix("--env-file="))
        elif option == "--env-file" and rest:
            env_file = Path(rest.pop(0))
        else:
            return None
    if rest == ["run"]:
        return lambda: start_daemon(env_file)
    if rest == ["worker"]:
        return lambda: start_worker(env_file)
    return None


def start_daemon(env_file: Path | None) -> None:
    """`warmup-autoscaler run`."""
    from warmup_autoscaler.daemon import start

    start(env_file)


def start_worker(env_file: Path | None) -> None:
    """`warmup-autoscaler worker`: exits with the worker's code."""
    from warmup_autoscaler.worker.command import start

    sys.exit(start(env_file))
