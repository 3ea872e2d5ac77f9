"""The docs keep up with the code: every variable it reads is documented, every link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import warmup_autoscaler
from warmup_autoscaler.config import all_env_names

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "warmup_autoscaler"
CONFIGURATION = ROOT / "docs" / "configuration.md"
README_MAX_BYTES = 13_000

# A variable name as it appears in source text; one ending in `_` is a prefix (`AUTO_SCALER_ALERT_*`).
VARIABLE = re.compile(r"\b(?:AUTO_SCALER_[A-Z0-9_]*[A-Z0-9]|DATABASE_URL)\b")
NOT_VARIABLES: set[str] = set()  # names in the source that are not variables
# A row of a table in docs/configuration.md: | `NAME` | default | allows | what it does |
DOCUMENTED_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|", re.MULTILINE)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def setting_variables() -> set[str]:
    """Every variable a settings class reads: each part's group and every platform's own."""
    return set(all_env_names())


def source_variables() -> set[str]:
    """Every variable name written in the package's source files, however the code reads it."""
    found = set()
    for path in SRC.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".js", ".html", ".mako"}:
            found |= set(VARIABLE.findall(path.read_text(encoding="utf-8")))
    return found - NOT_VARIABLES


def code_variables() -> set[str]:
    return setting_variables() | source_variables()


def documented_variables() -> set[str]:
    return set(DOCUMENTED_ROW.findall(CONFIGURATION.read_text(encoding="utf-8")))


def test_the_variable_scan_finds_settings_and_variables_read_elsewhere():
    """The scan sees the settings class, DATABASE_URL and variables read outside the settings."""
    assert {"DATABASE_URL", "AUTO_SCALER_ENABLED", "AUTO_SCALER_SWARM_SERVICE_NAME"} <= (
        setting_variables()
    )
    assert {"AUTO_SCALER_WORKER_INDEX", "AUTO_SCALER_API_URL"} <= code_variables()
    assert "AUTO_SCALER_ALERT" not in source_variables()  # a prefix in prose is not a variable


def test_configuration_documents_every_variable_the_code_reads():
    """Each variable the code reads has a row in docs/configuration.md's tables."""
    assert sorted(code_variables() - documented_variables()) == []


def test_configuration_documents_only_variables_the_code_reads():
    """Each variable with a row in docs/configuration.md is read by the code (no stale rows)."""
    documented = {v for v in documented_variables() if VARIABLE.fullmatch(v)}
    assert sorted(documented - code_variables()) == []


def test_env_example_keeps_every_setting():
    """Each settings field's variable has a line `NAME=...` (maybe commented) in .env.example."""
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    assert sorted(setting_variables() - listed) == []


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the headings of `page` (code blocks skipped, repeats numbered)."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", text, re.MULTILINE):
        slug = candidate = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        repeat = 0
        while candidate in found:
            repeat += 1
            candidate = f"{slug}-{repeat}"
        found.add(candidate)
    return found


def test_relative_links_point_to_files_that_exist():
    """Each relative link in README.md and docs/*.md names an existing file, and its #anchor, if
    any, a heading of that file."""
    broken = []
    for page in markdown_files():
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # a URL: http:, mailto:
            file_part, _, anchor = target.partition("#")
            path = (page.parent / file_part).resolve() if file_part else page
            missing = not path.exists()
            if missing or (anchor and path.suffix == ".md" and anchor not in anchors(path)):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_readme_stays_a_landing_page():
    """README.md stays under 13,000 bytes; the reference lives in docs/."""
    assert (ROOT / "README.md").stat().st_size < README_MAX_BYTES


def test_exported_members():
    """The package exports exactly its documented names, and each one exists."""
    for name in warmup_autoscaler.__all__:
        assert hasattr(warmup_autoscaler, name), name
    assert {"decide", "Decision", "PolicyConfig", "AutoscalerError"} <= set(
        warmup_autoscaler.__all__
    )
