"""Before any request body is read: the admin token is checked and the body's size is capped.

FastAPI reads and parses a body before it resolves the route's dependencies, so a token check
written as a dependency alone comes after a 100 MB body has been read into memory. This ASGI
middleware answers 401/403 from the headers alone on the admin routes, 413 at once for a declared
length over the cap, and 413 as soon as a body sent without a length (chunked) passes it. An
answer sent without reading the body leaves the rest unread: uvicorn stops reading the socket
(its flow control) and closes the connection after the answer.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warmup_autoscaler.api.auth import AdminCheck
from warmup_autoscaler.api.errors import ApiError, error_response

__all__ = ["MAX_BODY_BYTES", "RequestGuard"]

MAX_BODY_BYTES = 8192  # the pause body is at most ~3 KB: a 500-character reason, JSON-escaped


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body is over {limit} bytes", field="body")


class RequestGuard:
    """Wraps the app: admin routes (method, path) need the token before their body is read, and no
    body may be longer than `max_body_bytes`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        admin_routes: Collection[tuple[str, str]],
        check_admin: AdminCheck,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.admin_routes = frozenset(admin_routes)
        self.check_admin = check_admin
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        error = self._refuse(scope, headers)
        if error is not None:
            await _answer(error, scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise too_large(self.max_body_bytes)  # FastAPI lets HTTP errors through
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except ApiError as exc:  # raised where no exception handler caught it
            if started or exc.status_code != 413:
                raise
            await _answer(exc, scope, receive, send)

    def _refuse(self, scope: Scope, headers: Headers) -> ApiError | None:
        """The error to answer from the request line and headers alone, if any."""
        if (scope["method"], scope["path"]) in self.admin_routes:
            error = self.check_admin(headers.get("authorization"))
            if error is not None:
                return error
        length = headers.get("content-length")
        if length is None:
            return None
        if not length.isdigit():
            return ApiError(
                400, "the Content-Length header is not a number", field="Content-Length"
            )
        if int(length) > self.max_body_bytes:
            return too_large(self.max_body_bytes)
        return None


async def _answer(error: ApiError, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(
        error.status_code, str(error.detail), field=error.field, headers=error.headers
    )
    await response(scope, receive, send)
