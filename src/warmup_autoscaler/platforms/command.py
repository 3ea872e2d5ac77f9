"""The command platform: any process manager the auto-scaler can drive with two commands.

`AUTO_SCALER_SCALE_COMMAND` is a template (`pm2 scale warmup-worker {replicas}`) split like a shell
would split it, with `{replicas}` replaced inside each word, and run without a shell, so no count
or quoting can inject anything. The current count comes from `AUTO_SCALER_CURRENT_WORKERS_COMMAND`
(prints a number) or, when that is unset, from a callable (the worker registry's live count).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable
from typing import Self

from warmup_autoscaler.config.base import Problem
from warmup_autoscaler.errors import PlatformError
from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.platforms.base import BasePlatform, PlatformContext, TimeoutSettings
from warmup_autoscaler.platforms.process import run_bounded

__all__ = ["PLACEHOLDER", "CommandPlatform", "CommandSettings"]

log = get_logger(__name__)

PLACEHOLDER = "{replicas}"


class CommandSettings(TimeoutSettings):
    """AUTO_SCALER_SCALE_COMMAND (a template with {replicas}) and how to read the count."""

    scale_command: str | None = None
    current_workers_command: str | None = None  # prints a number; unset: the worker registry

    def problems(self) -> list[Problem]:
        if PLACEHOLDER in (self.scale_command or ""):
            return []
        example = f"{self.env_name('scale_command')}='pm2 scale warmup-worker {PLACEHOLDER}'"
        required = (
            f"is required with AUTO_SCALER_PLATFORM=command and must contain {PLACEHOLDER} "
            f"(e.g. {example})"
        )
        return [Problem("scale_command", required)]


SCALE_VAR = CommandSettings.env_name("scale_command")
CURRENT_VAR = CommandSettings.env_name("current_workers_command")
TIMEOUT_VAR = CommandSettings.env_name("platform_command_timeout_ms")


def _split(command: str, var: str) -> list[str]:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise PlatformError(f"{var}={command!r} cannot be split into words ({exc})") from exc
    if not argv:
        raise PlatformError(f"{var} is empty; set it to a command")
    return argv


class CommandPlatform(BasePlatform[CommandSettings]):
    """Runs `scale_command` to set the count; reads it with `current_workers_command` or
    `live_workers`. Each run is limited to `timeout_s`; its whole process group is killed then."""

    name = "command"
    settings_class = CommandSettings

    def __init__(
        self,
        *,
        scale_command: str,
        current_workers_command: str | None = None,
        live_workers: Callable[[], int] | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        self._scale_argv = _split(scale_command, SCALE_VAR)
        if not any(PLACEHOLDER in arg for arg in self._scale_argv):
            raise PlatformError(
                f"{SCALE_VAR}={scale_command!r} has no {PLACEHOLDER} placeholder for the worker "
                f"count (e.g. 'pm2 scale warmup-worker {PLACEHOLDER}')"
            )
        self._current_argv = (
            _split(current_workers_command, CURRENT_VAR)
            if current_workers_command and current_workers_command.strip()
            else None
        )
        if self._current_argv is None and live_workers is None:
            raise PlatformError(
                f"the command platform cannot read the worker count: set {CURRENT_VAR} to a "
                "command that prints it, or let the workers report to the worker registry "
                "(live_workers) by running them with `warmup-autoscaler worker`"
            )
        self._live_workers = live_workers
        self._timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: CommandSettings, context: PlatformContext) -> Self:
        current = settings.current_workers_command
        return cls(
            scale_command=settings.scale_command or "",
            current_workers_command=current,
            live_workers=None if current and current.strip() else context.live_workers,
            timeout_s=settings.timeout_s,
        )

    def current_workers(self) -> int:
        if self._current_argv is None:
            assert self._live_workers is not None  # guaranteed by __init__
            try:
                return self._live_workers()
            except PlatformError:
                raise
            except Exception as exc:  # the registry is another layer: keep the Protocol's promise
                raise PlatformError(
                    f"cannot count the live workers in the worker registry: {exc}; "
                    f"or set {CURRENT_VAR}"
                ) from exc
        out = self._run(self._current_argv, CURRENT_VAR).strip()
        if not re.fullmatch(r"[0-9]+", out):
            shown = out if len(out) <= 80 else out[:77] + "..."
            raise PlatformError(
                f"{CURRENT_VAR} `{shlex.join(self._current_argv)}` printed {shown!r}, "
                "not a whole number of workers (0 or more)"
            )
        return int(out)

    def _scale_to(self, workers: int) -> None:
        argv = [arg.replace(PLACEHOLDER, str(workers)) for arg in self._scale_argv]
        self._run(argv, SCALE_VAR)
        log.info("scale_command_done", command=shlex.join(argv))

    def _run(self, argv: list[str], var: str) -> str:
        """Run `argv` without a shell; its stdout, or a PlatformError quoting it and the cause."""
        shown = shlex.join(argv)
        try:
            code, out, err = run_bounded(argv, timeout_s=self._timeout_s)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise PlatformError(
                f"{var}: cannot run `{shown}`: {reason} ({argv[0]!r}); check the program is "
                "installed and on PATH"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise PlatformError(
                f"{var}: `{shown}` did not finish within {self._timeout_s:g} s and was killed; "
                f"check the command or raise {TIMEOUT_VAR}"
            ) from exc
        if code != 0:
            lines = [line.strip() for line in err.splitlines() if line.strip()] or [
                "(nothing on stderr)"
            ]
            # A Python traceback's first line says nothing; its last line is the error.
            detail = lines[-1] if lines[0].startswith("Traceback (") else lines[0]
            how = f"exited with code {code}" if code > 0 else f"was killed by signal {-code}"
            raise PlatformError(f"{var}: `{shown}` {how}: {detail}")
        if out.strip():
            log.debug("platform_command_output", command=shown, output=out.strip()[:200])
        return out
