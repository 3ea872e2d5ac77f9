"""Admin endpoints take `Authorization: Bearer <AUTO_SCALER_ADMIN_TOKEN>`, compared in constant time.

`admin_problem` is the one check; `RequestGuard` (api/guard.py) runs it on the headers before any
body is read, and `admin_dependency` declares the scheme in the OpenAPI schema (so `/docs` has an
Authorize button) and runs it again.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from warmup_autoscaler.api.errors import ApiError
from warmup_autoscaler.config import ApiSettings

__all__ = ["AdminCheck", "admin_check", "admin_dependency"]

TOKEN_VAR = ApiSettings.env_name("admin_token")
HEADER = "Authorization"

AdminCheck = Callable[[str | None], ApiError | None]
_bearer = HTTPBearer(auto_error=False, description=f"{TOKEN_VAR}")


def admin_check(token: SecretStr | None) -> AdminCheck:
    """A function of the raw Authorization header: None when it carries the token, else the
    error to answer (403 when admin endpoints are disabled or the token is wrong, 401 when the
    header is missing or malformed)."""
    expected = token.get_secret_value().encode() if token else b""

    def problem(authorization: str | None) -> ApiError | None:
        if not expected:
            return ApiError(
                status.HTTP_403_FORBIDDEN,
                f"Admin endpoints are disabled: set {TOKEN_VAR} and restart the daemon",
                field=HEADER,
            )
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return ApiError(
                status.HTTP_401_UNAUTHORIZED,
                "Missing or malformed Authorization header: send 'Authorization: Bearer <token>'",
                field=HEADER,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected):
            return ApiError(status.HTTP_403_FORBIDDEN, "Invalid admin token", field=HEADER)
        return None

    return problem


def admin_dependency(check: AdminCheck) -> Callable[..., None]:
    """A dependency that admits only the configured bearer token."""

    def require_admin(
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        error = check(request.headers.get("authorization"))
        if error is not None:
            raise error

    return require_admin
