"""`python -m warmup_autoscaler.worker`: the worker without the CLI (settings from env and .env).

A worker runs no platform, so the platform's settings are not required of it.
"""

from __future__ import annotations

import sys

from warmup_autoscaler.config import load_settings
from warmup_autoscaler.errors import AutoscalerError, ConfigError
from warmup_autoscaler.worker.command import run_worker


def main() -> int:
    try:
        return run_worker(load_settings(for_platform=False))
    except ConfigError as exc:
        for line in exc.problems:
            print(f"config error: {line}", file=sys.stderr)
        return 2
    except AutoscalerError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
