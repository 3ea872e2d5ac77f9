"""The HTTP face: the seed's status and trigger endpoints, and a health check.

Status is answered from the controller's memory, never by a database query per request.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, status
from fastapi.responses import JSONResponse

from warmup_autoscaler import __version__
from warmup_autoscaler.controller import Controller

__all__ = ["create_app"]

PREFIX = "/api/auto-scaler"


def _admin(controller: Controller) -> Any:
    """A dependency that admits only `Authorization: Bearer <AUTO_SCALER_ADMIN_TOKEN>`."""

    def require_admin(authorization: Annotated[str | None, Header()] = None) -> None:
        token = controller.settings.admin_token
        expected = token.get_secret_value() if token else ""
        if not expected:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "Admin endpoints are disabled: set AUTO_SCALER_ADMIN_TOKEN and restart the daemon",
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


def create_app(controller: Controller) -> FastAPI:
    app = FastAPI(
        title="warmup-autoscaler",
        version=__version__,
        description="Scales warmup workers to the number of active mailboxes.",
    )
    admin = Depends(_admin(controller))

    @app.get(f"{PREFIX}/status")
    def get_status() -> dict[str, Any]:
        """The auto-scaler's state: the seed's fields plus lastCheckAt, lastDecision, lastError."""
        return controller.status()

    @app.post(f"{PREFIX}/trigger", dependencies=[admin])
    async def trigger() -> JSONResponse:
        """Run a check now (waiting for a running one first) and return its decision."""
        result = await controller.check("api")
        body: dict[str, Any] = {
            "success": result.success,
            "decision": result.decision.to_dict() if result.decision else None,
            "executed": result.executed,
            "message": result.message,
        }
        if result.error:
            body["error"] = result.error
        code = status.HTTP_200_OK if result.success else status.HTTP_503_SERVICE_UNAVAILABLE
        return JSONResponse(body, status_code=code)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Liveness: the process serves requests. `lastError` tells whether checks succeed."""
        last = controller.last
        return {
            "status": "ok",
            "lastCheckAt": last.checked_at.isoformat() if last else None,
            "lastCheckOk": last.success if last else None,
        }

    return app
