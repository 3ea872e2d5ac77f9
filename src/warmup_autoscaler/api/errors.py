"""Every error the API answers has one shape: `{"detail": "<message>", "field": <name or null>}`.

`detail` stays FastAPI's key (the CLI and the dashboard read it); `field` names what was wrong: a
query parameter, a body field, `body` for the body as a whole, `Authorization` for the header.
A validation error (422) also lists each problem under `errors`. No answer ever echoes the input
back: FastAPI's default 422 does, which copied a 100 MB body into the answer and failed with a
500 on a NaN, which JSON cannot carry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ERROR_RESPONSES", "ApiError", "error_response", "install_error_handlers"]

# Where a bad value was, as a word for the message: loc[0] of a pydantic error.
PLACES = {"query": "query parameter", "body": "body field", "header": "header", "path": "path"}

# The OpenAPI description of the error shape, for `responses=` of the routes.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["detail", "field"],
    "properties": {
        "detail": {"type": "string"},
        "field": {"type": ["string", "null"]},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "A parameter or the body is invalid (`field` names it)",
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    },
}


class ApiError(StarletteHTTPException):
    """An HTTP error answered as `{"detail": ..., "field": ...}`."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, detail, headers)
        self.field = field


def error_response(
    status_code: int,
    detail: str,
    *,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail, "field": field}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status_code, headers=headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    field = getattr(exc, "field", None)
    if field is None and exc.status_code == 400:
        field = "body"  # FastAPI's own 400: a body it cannot decode (e.g. not UTF-8)
    return error_response(
        exc.status_code, str(exc.detail), field=field, headers=getattr(exc, "headers", None)
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [_problem(error) for error in exc.errors()]
    first = problems[0] if problems else {"field": "body", "message": "is invalid"}
    return error_response(
        422,
        "; ".join(p["message"] for p in problems) or "the request is invalid",
        field=first["field"],
        errors=[{"field": p["field"], "loc": p["loc"], "msg": p["msg"]} for p in problems],
    )


def _problem(error: dict[str, Any]) -> dict[str, Any]:
    """One pydantic error as field, location and message: never its `input` or `ctx`."""
    loc: Sequence[Any] = error.get("loc") or ("body",)
    names = [str(part) for part in loc[1:] if isinstance(part, str)]
    field = ".".join(names) if names else str(loc[0])
    msg = "is not valid JSON" if error.get("type") == "json_invalid" else str(error.get("msg"))
    place = PLACES.get(str(loc[0]), str(loc[0]))
    message = f"{place} '{field}': {msg}" if names else f"{field}: {msg}"
    return {"field": field, "loc": [str(part) for part in loc], "msg": msg, "message": message}


def install_error_handlers(app: FastAPI) -> None:
    """Answer every HTTP and validation error in the one shape."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
