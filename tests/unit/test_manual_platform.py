"""ManualPlatform: reports the operator's fixed count and only recommends changes."""

from __future__ import annotations

import logging

import pytest

from warmup_autoscaler.platforms.base import Platform
from warmup_autoscaler.platforms.manual import ManualPlatform


def test_is_a_platform_named_manual() -> None:
    """ManualPlatform satisfies the Platform protocol under the name "manual"."""
    platform = ManualPlatform(workers=2)
    assert isinstance(platform, Platform)
    assert platform.name == "manual"


def test_reports_the_configured_count() -> None:
    """current_workers() is the count given at construction, with no recommendation yet."""
    platform = ManualPlatform(workers=3)
    assert platform.current_workers() == 3
    assert platform.recommended is None


def test_scale_to_only_logs_and_records(caplog: pytest.LogCaptureFixture) -> None:
    """scale_to(n) logs a warning, records n as recommended, and leaves the count unchanged."""
    platform = ManualPlatform(workers=1)
    with caplog.at_level(logging.WARNING, logger="warmup_autoscaler.platforms.manual"):
        platform.scale_to(4)
    assert platform.recommended == 4
    assert platform.current_workers() == 1
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            "warmup_autoscaler.platforms.manual",
            logging.WARNING,
            "manual platform: scale to 4 workers recommended; nothing executed",
        )
    ]


def test_latest_recommendation_wins() -> None:
    """Each scale_to replaces the previous recommendation, including a recommendation of 0."""
    platform = ManualPlatform(workers=2)
    platform.scale_to(5)
    platform.scale_to(0)
    assert platform.recommended == 0
    assert platform.current_workers() == 2
