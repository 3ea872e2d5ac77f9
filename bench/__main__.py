"""`make bench`: every benchmark, each against a baseline measured side by side in the same run.

Figures are medians of several rounds; the headline of each benchmark is a ratio (ours / baseline),
since the machines are shared and absolute times drift. `--quick` shrinks the sizes for a smoke run.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--only",
        choices=["decisions", "check", "memory", "status", "rebalance", "claims"],
        default=None,
    )
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {sys.platform}")
    modules = {
        "decisions": "decisions",
        "check": "check",
        "memory": "memory",
        "status": "status_api",
        "rebalance": "rebalance",
        "claims": "claims",
    }
    for name, module in modules.items():
        if args.only in (None, name):
            print(f"\n== {name}", flush=True)
            importlib.import_module(f"bench.{module}").run(quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
