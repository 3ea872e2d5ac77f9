"""Print this project's requirements from pyproject.toml, one a line, without the project itself.

The Dockerfile installs them before it copies the source, so a change to the source rebuilds no
dependency layer; scripts/build-images.sh downloads the same ones into its wheelhouse.

    python3 pyproject-requirements.py PYPROJECT [EXTRA ...]   # dependencies and these extras'
    python3 pyproject-requirements.py PYPROJECT --build       # the build backend's requirements

An extra naming the project itself (`warmup-autoscaler[kubernetes,docker]`) is expanded into
those extras. Standard library only: it runs on the bare base image.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

SELF_EXTRAS = re.compile(r"^\s*(?P<name>[A-Za-z0-9._-]+)\s*\[(?P<extras>[^\]]*)\]\s*$")


def normalize(name: str) -> str:
    """PEP 503 name normalisation, so `Warmup_Autoscaler` matches `warmup-autoscaler`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(pyproject: dict[str, object], extras: list[str]) -> list[str]:
    """The core dependencies, then each extra's (self-references expanded), without repeats."""
    project = pyproject["project"]
    assert isinstance(project, dict)
    name = normalize(project["name"])
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    found: list[str] = []
    seen_extras: set[str] = set()

    def add(items: list[str]) -> None:
        for item in items:
            own = SELF_EXTRAS.match(item)
            if own and normalize(own["name"]) == name:
                expand([e.strip() for e in own["extras"].split(",") if e.strip()])
            elif item not in found:
                found.append(item)

    def expand(names: list[str]) -> None:
        for extra in names:
            if extra in seen_extras:
                continue
            if extra not in optional:
                sys.exit(f"pyproject-requirements: no extra {extra!r}; known: {sorted(optional)}")
            seen_extras.add(extra)
            add(optional[extra])

    add(list(project.get("dependencies", [])))
    expand(extras)
    return found


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit(__doc__)
    pyproject = tomllib.loads(Path(argv[0]).read_text())
    if argv[1:] == ["--build"]:
        lines = list(pyproject["build-system"]["requires"])
    else:
        lines = requirements(pyproject, argv[1:])
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
