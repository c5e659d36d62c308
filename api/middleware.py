"""Request body size limit, as plain ASGI so it runs before any body is buffered.

A declared Content-Length over the limit is refused without reaching the app (its body read
and discarded first when moderately sized); a chunked body is counted as it streams in and
refused as soon as it crosses the limit. Either way the client gets a 413
problem with code `payload_too_large`, never a parse error or a 500.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from settlement.api.problems import problem


class BodyTooLarge(HTTPException):
    """Raised from receive(); FastAPI re-raises HTTPExceptions, so the problem handler renders it."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body exceeds {limit} bytes")


# A declared body up to this many times the limit is read and thrown away before the 413 goes
# out: closing on unread data makes the kernel reset the connection, and a client still
# sending would see the reset instead of the 413. Anything larger is cut off at once.
DRAIN_FACTOR = 16


async def _discard_body(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, path_max_bytes: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.path_max_bytes = path_max_bytes or {}  # routes whose bodies are larger by design (batches)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_max_bytes.get(scope.get("path", ""), self.default_max_bytes)
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            if int(declared) <= max_bytes * DRAIN_FACTOR:
                await _discard_body(receive)
            response = problem(
                Request(scope),
                status=413,
                code="payload_too_large",
                title="Content Too Large",
                detail=f"request body exceeds {max_bytes} bytes",
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge(max_bytes)
            return message

        await self.app(scope, limited_receive, send)
