"""The documentation names every setting, and the public surface is what `__all__` says."""

from __future__ import annotations

from pathlib import Path

import warmup_autoscaler
from warmup_autoscaler.config import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_and_readme_document_every_setting():
    """Each setting's variable appears in .env.example and in the README's table."""
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    missing = [
        (env_name(f), where)
        for f in Settings.model_fields
        for where, text in (("example", example), ("readme", readme))
        if f"{env_name(f)}" not in text
    ]
    assert missing == []


def test_exported_members():
    """The package exports exactly its documented names, and each one exists."""
    for name in warmup_autoscaler.__all__:
        assert hasattr(warmup_autoscaler, name), name
    assert {"decide", "Decision", "PolicyConfig", "AutoscalerError"} <= set(
        warmup_autoscaler.__all__
    )
