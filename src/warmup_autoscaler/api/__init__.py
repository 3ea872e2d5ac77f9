"""The HTTP face: the seed's status and trigger endpoints, history, pause, health and dashboard.

Status is answered from the controller's memory, never by a database query per request.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from warmup_autoscaler import __version__
from warmup_autoscaler.alerts import Alerting
from warmup_autoscaler.api.auth import admin_check, admin_dependency
from warmup_autoscaler.api.errors import ERROR_RESPONSES, ApiError, install_error_handlers
from warmup_autoscaler.api.guard import RequestGuard
from warmup_autoscaler.api.history import history_router
from warmup_autoscaler.api.warmup import warmup_router
from warmup_autoscaler.api.whatif import whatif_router
from warmup_autoscaler.controller import Controller
from warmup_autoscaler.errors import AutoscalerError, NotLeaderError
from warmup_autoscaler.metrics import Metrics
from warmup_autoscaler.status import Status
from warmup_autoscaler.store.history import HistoryStore
from warmup_autoscaler.wire import leader_json, status_json

__all__ = ["create_app"]

PREFIX = "/api/auto-scaler"
DASHBOARD = Path(__file__).parent.parent / "dashboard"
VENDOR = "/static/vendor"  # dashboard/vendor: uPlot and Swagger UI, see its README.md
STATUS_TTL_S = 1.0  # time-dependent status fields (cooldowns left) are at most this stale
ADMIN_ROUTES = [("POST", f"{PREFIX}/{name}") for name in ("trigger", "pause", "resume")]
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    401: {"description": "No bearer token, or a malformed Authorization header"},
    403: {"description": "A wrong token, or admin endpoints disabled (no token configured)"},
    409: {"description": "This auto-scaler is a standby: `leader` names the leader"},
    413: {"description": "A body over 8 KB"},
}
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "A body that cannot be decoded (not UTF-8)"},
}
STORE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ADMIN_RESPONSES,
    503: {"description": "The state cannot be saved: the database is unavailable"},
}


class PauseRequest(BaseModel):
    minutes: float | None = Field(
        None,
        gt=0,
        le=525_600,
        allow_inf_nan=False,
        strict=True,  # a number: not true (1), not "30"
        description="Pause for this long; omit to pause until resumed.",
    )
    reason: str | None = Field(None, max_length=500)


class _StatusCache:
    """The status body as bytes, serialized again for a new `Status` or after `STATUS_TTL_S`."""

    def __init__(self, controller: Controller) -> None:
        self._controller = controller
        self._body = b""
        self._built_at = -STATUS_TTL_S
        self._status: Status | None = None

    def body(self) -> bytes:
        now = time.monotonic()
        current = self._controller.status
        if current is not self._status or now - self._built_at >= STATUS_TTL_S:
            body = status_json(current, self._controller.clock())
            self._body = json.dumps(body, separators=(",", ":")).encode()
            self._built_at, self._status = now, current
        return self._body


def create_app(
    controller: Controller,
    *,
    history: HistoryStore | None = None,
    metrics: Metrics | None = None,
    alerting: Alerting | None = None,
) -> FastAPI:
    app = FastAPI(
        title="warmup-autoscaler",
        version=__version__,
        description="Scales warmup workers to the number of active mailboxes.",
        docs_url=None,  # served below from the vendored Swagger UI, not from a CDN
        redoc_url=None,  # ReDoc would need a CDN and Google Fonts: not shipped
    )
    install_error_handlers(app)
    check_admin = admin_check(controller.settings.api.admin_token)
    app.add_middleware(RequestGuard, admin_routes=ADMIN_ROUTES, check_admin=check_admin)
    admin = Depends(admin_dependency(check_admin))

    status_cache = _StatusCache(controller)

    @app.get(f"{PREFIX}/status", response_class=Response)
    async def get_status() -> Response:
        """The auto-scaler's state: the seed's fields plus lastCheckAt, lastDecision, lastError.

        Serialized at most once a second, or at once after a check, pause or resume.
        """
        return Response(status_cache.body(), media_type="application/json")

    def not_leader(exc: NotLeaderError) -> JSONResponse:
        """409: a standby names the leader instead of acting."""
        leader = leader_json(controller.status.leader, controller.clock())
        body = {"detail": exc.message, "field": None, "leader": leader}
        return JSONResponse(body, status_code=409)

    @app.post(
        f"{PREFIX}/trigger",
        dependencies=[admin],
        responses={
            **ADMIN_RESPONSES,
            503: {"description": "The check failed (`success: false`, `error` says why)"},
        },
    )
    async def trigger() -> JSONResponse:
        """Run a check now (waiting for a running one first) and return its decision; a standby
        answers 409 naming the leader."""
        try:
            result = await controller.check("api")
        except NotLeaderError as exc:
            return not_leader(exc)
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

    @app.post(
        f"{PREFIX}/pause",
        dependencies=[admin],
        response_model=None,
        responses={**STORE_RESPONSES, **BODY_RESPONSES},
    )
    async def pause(
        request: Annotated[PauseRequest | None, Body()] = None,
    ) -> dict[str, Any] | JSONResponse:
        """Stop executing decisions, until resumed or for `minutes`; checks go on and are journaled."""
        request = request or PauseRequest(minutes=None, reason=None)
        try:
            await controller.pause(minutes=request.minutes, reason=request.reason)
        except NotLeaderError as exc:
            return not_leader(exc)
        except AutoscalerError as exc:
            raise ApiError(status.HTTP_503_SERVICE_UNAVAILABLE, exc.message) from exc
        return {"success": True, "paused": _paused(controller)}

    @app.post(
        f"{PREFIX}/resume", dependencies=[admin], response_model=None, responses=STORE_RESPONSES
    )
    async def resume() -> dict[str, Any] | JSONResponse:
        """Execute decisions again."""
        try:
            await controller.resume()
        except NotLeaderError as exc:
            return not_leader(exc)
        except AutoscalerError as exc:
            raise ApiError(status.HTTP_503_SERVICE_UNAVAILABLE, exc.message) from exc
        return {"success": True, "paused": _paused(controller)}

    @app.get(f"{PREFIX}/alerts")
    def get_alerts() -> dict[str, Any]:
        """Alerts firing now (most severe first) and the mailbox growth projection."""
        projection = alerting.projection if alerting else None
        return {
            "firing": [a.to_dict() for a in controller.status.alerts],
            "growth": projection.to_dict() if projection else None,
        }

    if history is not None:
        app.include_router(history_router(history, PREFIX))
        app.include_router(whatif_router(history, controller.settings, PREFIX))
        app.include_router(warmup_router(history.db))

    if metrics is not None:

        @app.get("/metrics", include_in_schema=False)
        def get_metrics() -> Response:
            """Prometheus exposition of the auto-scaler's state and counters."""
            body, content_type = metrics.render()
            return Response(body, media_type=content_type)

    if (DASHBOARD / "index.html").is_file():
        app.mount("/static", StaticFiles(directory=DASHBOARD), name="static")

        @app.get("/", include_in_schema=False)
        def dashboard() -> FileResponse:
            """The dashboard: one page, its assets served by the app (no CDN)."""
            return FileResponse(DASHBOARD / "index.html")

        @app.get("/docs", include_in_schema=False)
        def docs() -> HTMLResponse:
            """Swagger UI over /openapi.json, its assets served by the app (no CDN)."""
            return get_swagger_ui_html(
                openapi_url=str(app.openapi_url),
                title=f"{app.title} API",
                swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
                swagger_css_url=f"{VENDOR}/swagger-ui.css",
                swagger_favicon_url=f"{VENDOR}/swagger-ui-favicon-32x32.png",
                swagger_ui_parameters={"validatorUrl": None},  # no call to swagger.io
            )

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness: the process serves requests. `lastError` tells whether checks succeed."""
        last, leader = controller.last, controller.status.leader
        return {
            "status": "ok",
            "lastCheckAt": last.checked_at.isoformat() if last else None,
            "lastCheckOk": last.success if last else None,
            "role": leader.role if leader else "leader",
        }

    return app


def _paused(controller: Controller) -> Any:
    return status_json(controller.status, controller.clock())["paused"]
