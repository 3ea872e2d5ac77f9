"""Settings for tests, from keyword arguments named like the variables: `settings(dry_run=True)`.

Hermetic: no `.env` is read, and the keyword arguments win over the environment.
"""

from __future__ import annotations

import functools
from typing import Any

from warmup_autoscaler.config import ENV_PREFIX, Settings, load_settings

__all__ = ["make_settings"]


def make_settings(*, for_platform: bool = True, **values: Any) -> Settings:
    """`make_settings(platform="manual", scale_up_cooldown_ms=0)` sets AUTO_SCALER_PLATFORM...;
    `database_url` sets DATABASE_URL. Settings are frozen, so equal arguments share one."""
    return _cached(for_platform, tuple(sorted(values.items())))


@functools.lru_cache(maxsize=256)
def _cached(for_platform: bool, values: tuple[tuple[str, Any], ...]) -> Settings:
    overrides = {
        ("DATABASE_URL" if k == "database_url" else ENV_PREFIX + k.upper()): v for k, v in values
    }
    return load_settings(None, for_platform=for_platform, overrides=overrides)
