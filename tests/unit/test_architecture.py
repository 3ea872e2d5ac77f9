"""The rooms import one way only (docs/architecture.md): read from the source with `ast`."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pytest

PACKAGE = "warmup_autoscaler"
SRC = Path(__file__).resolve().parents[2] / "src" / PACKAGE

# The policy is pure: besides these standard modules it imports nothing (no I/O, no clock source).
PURE_STDLIB = {"__future__", "math", "dataclasses", "datetime", "enum", "typing", "collections"}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. warmup_autoscaler.platforms.local
    target: str  # what it imports, e.g. warmup_autoscaler.worker.registry
    names: tuple[str, ...]  # `from target import names` (empty for `import target`)
    top_level: bool  # at module level (not inside a function)
    line: int


def imports_of(module: str, source: str) -> list[Import]:
    """Every import statement of `source` (relative imports resolved against `module`)."""
    found = []
    tree = ast.parse(source)
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(module, alias.name, (), id(node) in top, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level]
                base = ".".join([*parent, base] if base else parent)
            names = tuple(a.name for a in node.names)
            found.append(Import(module, base, names, id(node) in top, node.lineno))
    return found


def package_imports() -> list[Import]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found += imports_of(module, path.read_text(encoding="utf-8"))
    return found


def _room(target: str, prefix: str) -> bool:
    return target == prefix or target.startswith(prefix + ".")


def violations(imports: list[Import]) -> list[str]:
    """Each import that goes against the direction of the loop, as a readable line."""
    p = PACKAGE + "."
    bad = []

    def flag(i: Import, why: str) -> None:
        bad.append(f"{i.module}:{i.line} imports {i.target} ({why})")

    for i in imports:
        mod, target = i.module, i.target
        ours = _room(target, PACKAGE)
        if mod == p + "policy" and (ours or target.split(".")[0] not in PURE_STDLIB):
            flag(i, "the policy is pure: no I/O, nothing of ours")
        if fnmatch(mod, p + "platforms*"):
            for room in ("worker", "controller", "api", "cli", "daemon", "journal", "status"):
                if _room(target, p + room):
                    flag(i, "a platform reaches the system only through PlatformContext")
            if _room(target, p + "store"):
                flag(i, "a platform reaches the store only through PlatformContext")
        if _room(mod, p + "store") or mod in (p + "sensor", p + "errors", p + "logs"):
            for room in ("controller", "api", "cli", "daemon", "platforms", "worker", "alerts"):
                if _room(target, p + room):
                    flag(i, "the store and the sensor sit below the loop")
        if _room(mod, p + "watch"):
            for room in ("controller", "api", "cli", "daemon", "platforms", "worker", "alerts"):
                if _room(target, p + room):
                    flag(i, "the change watcher sits beside the sensor; it calls check() only")
        if _room(mod, p + "worker"):
            for room in ("controller", "api", "cli", "daemon", "platforms", "alerts", "metrics"):
                if _room(target, p + room):
                    flag(i, "the worker runtime knows only the store, the config and its jobs")
        if _room(mod, p + "config"):
            allowed_lazy = not i.top_level and target == p + "platforms"
            if ours and not allowed_lazy and not any(
                _room(target, p + r) for r in ("config", "errors", "policy")
            ):
                flag(i, "the config sits at the bottom (it asks the platform registry lazily)")
        if mod == p + "leadership":
            for room in ("controller", "api", "cli", "daemon", "platforms", "journal", "alerts"):
                if _room(target, p + room):
                    flag(i, "the election knows the lease (store) and the status' value types")
        if mod == p + "controller":
            sdk = ("docker", "kubernetes", "sqlalchemy", "fastapi", "httpx", "psycopg")
            if target.split(".")[0] in sdk:
                flag(i, "the controller imports no driver or SDK")
            if _room(target, p + "platforms") and target != p + "platforms.base":
                flag(i, "the controller knows the platform protocol only")
        faces = (p + "api", p + "cli", p + "metrics", p + "wire", p + "dashboard")
        if any(_room(mod, f) for f in faces):
            if target == p + "controller" and any(
                n.startswith("_") or n not in ("Controller", "utc_now") for n in i.names
            ):
                flag(i, "the faces use the controller's public surface only")
            if _room(target, p + "journal"):
                flag(i, "the journal writer is the controller's internal")
            if _room(mod, p + "cli") and _room(target, p + "api"):
                flag(i, "the CLI does not import the API (shared JSON lives in wire)")
    return bad


def test_the_package_imports_in_the_direction_of_the_loop():
    """No module imports against the direction of docs/architecture.md."""
    assert violations(package_imports()) == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("warmup_autoscaler.policy", "import sqlalchemy"),
        ("warmup_autoscaler.policy", "from warmup_autoscaler.store.state import ScalerState"),
        ("warmup_autoscaler.policy", "import time"),
        ("warmup_autoscaler.platforms.local", "from warmup_autoscaler.worker import registry"),
        ("warmup_autoscaler.platforms.manual", "from ..store.workers import count_live_workers"),
        ("warmup_autoscaler.api", "from warmup_autoscaler.controller import _StepFailed"),
        ("warmup_autoscaler.metrics", "from warmup_autoscaler.journal import JournalWriter"),
        ("warmup_autoscaler.cli", "from warmup_autoscaler.api.history import history_router"),
        ("warmup_autoscaler.controller", "import docker"),
        ("warmup_autoscaler.leadership", "from warmup_autoscaler.controller import Controller"),
        ("warmup_autoscaler.controller", "from warmup_autoscaler.platforms.local import X"),
        ("warmup_autoscaler.store.state", "from warmup_autoscaler.controller import Controller"),
        ("warmup_autoscaler.worker.runtime", "from warmup_autoscaler.platforms import PLATFORMS"),
        ("warmup_autoscaler.config.groups", "from warmup_autoscaler.platforms import PLATFORMS"),
        ("warmup_autoscaler.watch.reaction", "from warmup_autoscaler.controller import Controller"),
    ],
)
def test_an_import_against_the_direction_is_caught(module, source):
    """The checker flags each kind of wrong import (so the test above can fail)."""
    assert len(violations(imports_of(module, source))) == 1


def test_the_config_may_ask_the_platform_registry_lazily():
    """Inside a function, the config may import the platform registry (the one exception)."""
    source = "def f():\n    from warmup_autoscaler.platforms import PLATFORMS\n"
    assert violations(imports_of("warmup_autoscaler.config", source)) == []
