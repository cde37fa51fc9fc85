"""Bounds on what a client may send, enforced while reading, never after reading everything.

:class:`BodySizeLimitMiddleware` caps a request's whole body (refused up front from ``Content-Length``,
or cut off mid-stream for chunked bodies) and the wait for each part of it (``app.state.body_timeout_s``, from
``Settings.body_timeout_s``: a declared but unsent body held a connection for 20 s or more);
:func:`read_upload` caps one uploaded file.
"""

from __future__ import annotations

import asyncio
from typing import Final

from starlette.datastructures import Headers, UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import BodyTimeoutError, UploadTooLargeError, problem_response

# Room for the multipart boundaries, part headers and small form fields around an upload.
MULTIPART_OVERHEAD_BYTES: Final = 64 * 1024
_CHUNK_BYTES: Final = 256 * 1024


class BodySizeLimitMiddleware:
    """Refuse (413 ``upload_too_large``) any HTTP request whose body exceeds ``max_body_bytes``."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            # Answered before a byte of the body is read.
            response = problem_response(
                Request(scope),
                UploadTooLargeError.status_code_default,
                UploadTooLargeError.code,
                title=UploadTooLargeError.title,
                detail=self._detail(),
            )
            await response(scope, receive, send)
            return

        received = 0
        timeout_s: float = scope["app"].state.body_timeout_s

        async def limited_receive() -> Message:
            nonlocal received
            try:
                message = await asyncio.wait_for(receive(), timeout_s)
            except TimeoutError:
                raise BodyTimeoutError(f"no part of the body arrived for {timeout_s:g} s") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # An HTTPException: FastAPI's body parsing re-raises it and the error handlers answer.
                    raise UploadTooLargeError(self._detail())
            return message

        await self.app(scope, limited_receive, send)

    def _detail(self) -> str:
        return f"the request body is over the limit of {self.max_body_bytes} bytes"


async def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """The uploaded file's bytes; :class:`UploadTooLargeError` as soon as more than ``max_bytes`` are read."""
    if upload.size is not None and upload.size > max_bytes:
        raise UploadTooLargeError(f"the upload is {upload.size} bytes; the limit is {max_bytes}")
    chunks: list[bytes] = []
    total = 0
    while chunk := await upload.read(min(_CHUNK_BYTES, max_bytes + 1 - total)):
        total += len(chunk)
        if total > max_bytes:
            raise UploadTooLargeError(f"the upload is over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
