"""Setting profiles to replay: the current settings, the seed's three, one per mode, and variants.

Every profile is the effective settings with some of them changed, validated like the settings
themselves (every bad value reported at once, naming the variable). Only the settings that change
decisions may be changed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from warmup_autoscaler.config import ENV_PREFIX, PolicySettings, Settings, load_settings
from warmup_autoscaler.errors import ConfigError
from warmup_autoscaler.policy import PolicyConfig

__all__ = [
    "DECISION_SETTINGS",
    "PROFILES",
    "Profile",
    "build_profiles",
    "named_profile",
    "parse_variant",
    "profile_from_settings",
]

# The seed's "Tuning for Your Needs" (conservative, aggressive) and its defaults (balanced).
SEED_PROFILES: dict[str, dict[str, Any]] = {
    "conservative": {
        "scale_up_threshold": 0.9,
        "scale_down_threshold": 0.2,
        "scale_up_cooldown_ms": 600_000,
        "scale_down_cooldown_ms": 1_800_000,
    },
    "balanced": {
        "scale_up_threshold": 0.8,
        "scale_down_threshold": 0.3,
        "scale_up_cooldown_ms": 300_000,
        "scale_down_cooldown_ms": 600_000,
    },
    "aggressive": {
        "scale_up_threshold": 0.7,
        "scale_down_threshold": 0.4,
        "scale_up_cooldown_ms": 180_000,
        "scale_down_cooldown_ms": 300_000,
    },
}
PROFILES: dict[str, dict[str, Any]] = {
    "current": {},
    **SEED_PROFILES,
    "step": {"scaling_mode": "step"},
    "target": {"scaling_mode": "target"},
    "tracking": {"scaling_mode": "tracking"},
    "predictive": {"scaling_mode": "tracking", "predictive": True},
}
DECISION_SETTINGS = tuple(PolicySettings.model_fields)  # the settings that change decisions
env_name = PolicySettings.env_name


@dataclass(frozen=True, kw_only=True)
class Profile:
    name: str
    policy: PolicyConfig
    forecast_window: timedelta
    lead_time: timedelta | None  # what the forecaster assumes; None: the platform's (replay's)
    changes: dict[str, Any]  # environment name -> value, relative to the current settings

    def to_dict(self) -> dict[str, Any]:
        p = self.policy
        return {
            "name": self.name,
            "changes": self.changes,
            "mode": p.mode,
            "predictive": p.predictive,
            "scaleUpThreshold": p.scale_up_threshold,
            "scaleDownThreshold": p.scale_down_threshold,
            "scaleUpCooldownMs": p.scale_up_cooldown.total_seconds() * 1000,
            "scaleDownCooldownMs": p.scale_down_cooldown.total_seconds() * 1000,
            "targetUtilization": p.target_utilization,
            "minWorkers": p.min_workers,
            "maxWorkers": p.max_workers,
            "mailboxesPerWorker": p.mailboxes_per_worker,
        }


def profile_from_settings(name: str, policy: PolicySettings, changes: dict[str, Any]) -> Profile:
    lead = policy.scale_up_lead_time_ms
    return Profile(
        name=name,
        policy=policy.to_policy(),
        forecast_window=timedelta(milliseconds=policy.predictive_window_ms),
        lead_time=None if lead is None else timedelta(milliseconds=lead),
        changes={env_name(k): v for k, v in changes.items()},
    )


def named_profile(settings: Settings, name: str) -> Profile:
    """A named profile on top of already validated settings (the daemon's); KeyError if unknown."""
    changes = PROFILES[name]
    return profile_from_settings(name, settings.policy.model_copy(update=changes), changes)


def parse_variant(text: str) -> dict[str, str]:
    """`NAME=VALUE[,NAME=VALUE...]` -> {field: value}; NAME with or without AUTO_SCALER_."""
    changes: dict[str, str] = {}
    problems: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        field = name.strip().upper().removeprefix(ENV_PREFIX).lower()
        if not sep or not value.strip():
            problems.append(f"--set {part!r}: expected NAME=VALUE (e.g. SCALING_MODE=tracking)")
        elif field not in DECISION_SETTINGS:
            allowed = ", ".join(env_name(f).removeprefix(ENV_PREFIX) for f in DECISION_SETTINGS)
            problems.append(
                f"--set {part!r}: {name.strip()} does not change decisions; choose from {allowed}"
            )
        else:
            changes[field] = value.strip()
    if not changes and not problems:
        problems.append(f"--set {text!r}: expected NAME=VALUE (e.g. SCALING_MODE=tracking)")
    if problems:
        raise ConfigError(problems)
    return changes


def _load(env_file: Path | None, label: str, changes: dict[str, Any]) -> PolicySettings:
    overrides = {env_name(k): v for k, v in changes.items()}
    try:
        return load_settings(env_file, for_platform=False, overrides=overrides).policy
    except ConfigError as exc:
        raise ConfigError([f"profile {label}: {p}" for p in exc.problems]) from exc


def build_profiles(env_file: Path | None, names: list[str], variants: list[str]) -> list[Profile]:
    """The named profiles, then one per `--set` variant, each on top of the current settings."""
    profiles: list[Profile] = []
    problems: list[str] = []
    wanted: list[tuple[str, dict[str, Any]]] = []
    for name in names:
        if name in PROFILES:
            wanted.append((name, PROFILES[name]))
        else:
            problems.append(f"unknown profile {name!r}: choose from {', '.join(PROFILES)}")
    for text in variants:
        try:
            changes: dict[str, Any] = dict(parse_variant(text))
        except ConfigError as exc:
            problems += exc.problems
            continue
        label = ",".join(f"{env_name(k).removeprefix(ENV_PREFIX)}={v}" for k, v in changes.items())
        wanted.append((label, changes))
    for label, changes in wanted:
        try:
            profiles.append(profile_from_settings(label, _load(env_file, label, changes), changes))
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return profiles
