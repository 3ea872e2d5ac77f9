"""The new-platform example of docs/architecture.md works as written: one file, one line."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from warmup_autoscaler import platforms
from warmup_autoscaler.config import load_settings
from warmup_autoscaler.errors import PlatformError
from warmup_autoscaler.platforms import PlatformContext, create_platform

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def example_blocks() -> tuple[str, str]:
    """The platform module and the registry line, as the doc shows them."""
    section = DOC.read_text(encoding="utf-8").split("## Where a new platform plugs in", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    return blocks[0], blocks[1].strip().rstrip(",")


@pytest.fixture
def file_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The doc's module saved as a file of its own and registered by the doc's one line."""
    module, line = example_blocks()
    (tmp_path / "doc_file_platform.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))
    name, target = (part.strip().strip('"') for part in line.split(":", 1))
    target = target.replace("warmup_autoscaler.platforms.file", "doc_file_platform")
    monkeypatch.setitem(platforms.PLATFORMS, name, target)
    yield name
    sys.modules.pop("doc_file_platform", None)


def test_the_documented_platform_scales_and_counts(file_platform: str, tmp_path: Path) -> None:
    """AUTO_SCALER_PLATFORM=file reads its own settings, writes the count, counts the registry."""
    wanted = tmp_path / "wanted.txt"
    settings = load_settings(
        None, overrides={"AUTO_SCALER_PLATFORM": file_platform, "AUTO_SCALER_FILE_PATH": wanted}
    )
    assert settings.public_dict()["AUTO_SCALER_FILE_PATH"] == str(wanted)
    platform = create_platform(settings, PlatformContext(live_workers=lambda: 2))
    platform.start()
    platform.scale_to(3)
    assert wanted.read_text() == "3\n"
    assert platform.current_workers() == 2
    with pytest.raises(PlatformError, match="cannot scale to -1 workers"):
        platform.scale_to(-1)
    platform.close()


def test_the_documented_platform_wraps_its_errors(file_platform: str, tmp_path: Path) -> None:
    """A file it cannot write is a PlatformError naming the path."""
    settings = load_settings(
        None, overrides={"AUTO_SCALER_PLATFORM": file_platform, "AUTO_SCALER_FILE_PATH": tmp_path}
    )
    platform = create_platform(settings, PlatformContext(live_workers=lambda: 0))
    with pytest.raises(PlatformError, match=f"cannot write {tmp_path}"):
        platform.scale_to(1)
