"""The platform registry: one line per platform, and a missing optional SDK named by its extra."""

from __future__ import annotations

import sys

import pytest

from tests.support.settings import make_settings
from warmup_autoscaler.errors import ConfigError
from warmup_autoscaler.platforms import PLATFORMS, platform_class


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_every_registered_platform_is_named_as_registered(name: str) -> None:
    """Each registry line points at a plugin whose `name` is its key and that has settings."""
    cls = platform_class(name)
    assert cls.name == name
    assert (
        make_settings(platform=name, scale_command="pm2 scale w {replicas}").daemon.platform == name
    )


@pytest.mark.parametrize(
    ("platform", "sdk", "extra"),
    [
        ("kubernetes", "urllib3", "kubernetes"),
        ("kubernetes", "kubernetes", "kubernetes"),
        ("docker", "docker", "docker"),
        ("swarm", "docker", "docker"),
    ],
)
def test_a_missing_sdk_is_a_config_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, platform: str, sdk: str, extra: str
) -> None:
    """Without its SDK, choosing the platform says which pip extra to install, in one line."""
    for module in list(sys.modules):
        if module == sdk or module.startswith((sdk + ".", "warmup_autoscaler.platforms.")):
            monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, sdk, None)  # `import sdk` now raises ImportError
    with pytest.raises(ConfigError) as caught:
        platform_class(platform)
    assert caught.value.problems == [
        f"AUTO_SCALER_PLATFORM={platform}: needs the {extra} extra, which is not installed "
        f"(no module {sdk}): pip install 'warmup-autoscaler[{extra}]'"
    ]
