"""Mailbox passwords at rest: Fernet tokens (AES-128-CBC + HMAC-SHA256, from `cryptography`).

The key comes from AUTO_SCALER_SECRET_KEY: one Fernet key, or several separated by commas to
rotate (the first encrypts, any of them decrypts). A password is only ever held in memory as
plaintext; what is stored, logged or shown is the token, or nothing.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from warmup_autoscaler.config.warmup import fernet_key_problem
from warmup_autoscaler.errors import ConfigError

__all__ = ["SecretBox", "WrongKeyError", "generate_key", "key_problem"]

KEY_VAR = "AUTO_SCALER_SECRET_KEY"


class WrongKeyError(ConfigError):
    """AUTO_SCALER_SECRET_KEY does not decrypt the stored mailbox passwords."""

    def __init__(self, what: str = "the stored mailbox passwords") -> None:
        super().__init__(
            [
                f"{KEY_VAR}=********: does not decrypt {what}; use the key they were "
                "encrypted with (list the old key after a new one, comma-separated, to rotate)"
            ]
        )


def generate_key() -> str:
    """A fresh random key for AUTO_SCALER_SECRET_KEY."""
    return Fernet.generate_key().decode()


def _split(value: str) -> list[str]:
    return [k.strip() for k in value.split(",") if k.strip()]


def key_problem(value: str) -> str | None:
    """Why `value` is not a usable key list, without quoting it; None when it is."""
    return fernet_key_problem(value)


class SecretBox:
    """Encrypts and decrypts mailbox passwords with the configured key(s)."""

    def __init__(self, keys: str) -> None:
        problem = key_problem(keys)
        if problem is not None:
            raise ConfigError([f"{KEY_VAR}=********: {problem}"])
        self._fernet = MultiFernet([Fernet(k) for k in _split(keys)])

    def __repr__(self) -> str:
        return "SecretBox(********)"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The password; `WrongKeyError` when no configured key made this token."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, ValueError) as exc:
            raise WrongKeyError() from exc
