"""The warmup job's settings (AUTO_SCALER_WORKER_JOB=warmup and `warmup-autoscaler mailbox`):
the key that encrypts the mailbox passwords, the safety-stop limits and the mail timeouts."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from warmup_autoscaler.config.base import Problem, SettingsGroup

__all__ = ["WarmupSettings", "fernet_key_problem"]


def fernet_key_problem(value: str) -> str | None:
    """Why `value` is not a comma-separated list of Fernet keys, never quoting it; None if it is."""
    from cryptography.fernet import Fernet

    keys = [k.strip() for k in value.split(",") if k.strip()]
    if not keys:
        return "it is empty"
    for n, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            return ("it is not" if len(keys) == 1 else f"key {n} of {len(keys)} is not") + (
                " a valid Fernet key"
            )
    return None


class WarmupSettings(SettingsGroup):
    """The warmup job: see docs/warmup.md."""

    model_config = SettingsConfigDict(env_prefix="AUTO_SCALER_WARMUP_")
    ALLOWED: ClassVar[dict[str, str]] = {
        "secret_key": "a Fernet key (44 characters of URL-safe base64; make one with "
        "`warmup-autoscaler mailbox keygen`), or several separated by commas (the first "
        "encrypts)",
        "archive_folder": "an IMAP folder name (e.g. Warmup), or empty to delete old warmup mail",
    }

    secret_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("AUTO_SCALER_SECRET_KEY")
    )
    auth_failure_limit: int = Field(3, ge=1)
    connect_failure_limit: int = Field(5, ge=1)
    bounce_rate_limit: float = Field(0.1, gt=0, le=1)
    bounce_min_sends: int = Field(10, ge=1)
    retry_backoff_ms: int = Field(60_000, gt=0)
    mail_timeout_ms: int = Field(30_000, gt=0)
    resend_grace_ms: int = Field(600_000, gt=0)
    keep_hours: int = Field(24, ge=0)
    archive_folder: str = Field("Warmup", max_length=200)

    def problems(self) -> list[Problem]:
        value = self.secret_key.get_secret_value().strip() if self.secret_key else ""
        if value and (problem := fernet_key_problem(value)):
            return [Problem("secret_key", f"must be {self.ALLOWED['secret_key']} ({problem})")]
        return []
