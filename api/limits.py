"""Request size limit: a body above MAX_BODY_BYTES is refused with 413, before it is read whole.

A declared `Content-Length` above the limit is answered at once; a body without one (chunked)
is counted as it streams in and refused as soon as it passes the limit.
"""

from __future__ import annotations

import json

from fastapi import HTTPException  # starlette's, with any JSON as its detail
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: a year's calendar or a whole guide is a few dozen KiB
CODE = "payload_too_large"
MESSAGE = "请求内容过大，不能超过1 MiB"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail={"max_bytes": limit})


class BodyLimit:
    """Pure ASGI middleware (outermost), so nothing downstream buffers an oversized body."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = -1
            if size < 0:
                await _answer(send, 400, "invalid_content_length", "请求头 Content-Length 无效", None)
                return
            if size > self.max_bytes:
                await _answer(send, 413, CODE, MESSAGE, {"max_bytes": self.max_bytes})
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the endpoint's body read: the app's exception handlers turn it
                    # into the JSON error (errors.py), like any other HTTP error.
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)


async def _answer(send: Send, status: int, code: str, message: str, detail: object) -> None:
    body = json.dumps({"code": code, "message": message, "detail": detail}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
