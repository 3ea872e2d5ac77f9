"""Admin endpoints take `Authorization: Bearer <AUTO_SCALER_ADMIN_TOKEN>`, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Header, HTTPException, status
from pydantic import SecretStr

from warmup_autoscaler.config import ApiSettings

__all__ = ["admin_dependency"]

TOKEN_VAR = ApiSettings.env_name("admin_token")


def admin_dependency(token: SecretStr | None) -> Callable[..., None]:
    """A dependency that admits only the configured bearer token."""
    expected = token.get_secret_value() if token else ""

    def require_admin(authorization: Annotated[str | None, Header()] = None) -> None:
        if not expected:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"Admin endpoints are disabled: set {TOKEN_VAR} and restart the daemon",
            )
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "Missing or malformed Authorization header: send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Invalid admin token")

    return require_admin
