"""ManualPlatform: reports the operator's count (or the registry's) and only recommends changes."""

from __future__ import annotations

import pytest

from tests.support.logs import capture_events
from tests.support.settings import make_settings
from warmup_autoscaler.errors import PlatformError
from warmup_autoscaler.platforms import PlatformContext, create_platform
from warmup_autoscaler.platforms.base import Platform
from warmup_autoscaler.platforms.manual import ManualPlatform


def test_is_a_platform_named_manual() -> None:
    """ManualPlatform satisfies the Platform protocol under the name "manual"."""
    platform = ManualPlatform(workers=2)
    assert isinstance(platform, Platform)
    assert platform.name == "manual"


def test_reports_the_configured_count() -> None:
    """current_workers() is the count given at construction."""
    assert ManualPlatform(workers=3).current_workers() == 3


def test_scale_to_only_logs_a_recommendation() -> None:
    """scale_to(n) logs a warning recommending n and leaves the count unchanged."""
    platform = ManualPlatform(workers=1)
    with capture_events("warmup_autoscaler.platforms.manual") as events:
        platform.scale_to(4)
        platform.scale_to(0)
    assert platform.current_workers() == 1
    assert [(e["log_level"], e["event"], e["workers"]) for e in events] == [
        ("warning", "manual_scale_recommended", 4),
        ("warning", "manual_scale_recommended", 0),
    ]


def test_a_negative_count_is_refused() -> None:
    """The base's count guard refuses a negative count before the platform sees it."""
    with pytest.raises(PlatformError, match="cannot scale to -1 workers"):
        ManualPlatform(workers=1).scale_to(-1)


@pytest.mark.parametrize(("value", "expected"), [("3", 3), (None, 7)])
def test_built_from_settings_counts_the_registry_unless_a_count_is_set(value, expected) -> None:
    """AUTO_SCALER_MANUAL_WORKERS wins; unset, the context's live registered workers count."""
    settings = make_settings(platform="manual", manual_workers=value)
    platform = create_platform(settings, PlatformContext(live_workers=lambda: 7))
    assert platform.current_workers() == expected
