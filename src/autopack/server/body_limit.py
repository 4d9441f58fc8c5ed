"""Request bodies are bounded in size and in time before anything else reads them, token or not.

Checked before authentication on purpose: a client without a token must not be able to make the
server read (and hold) hundreds of megabytes just to be told 401, nor hold a connection and its
buffers open by sending a body a byte at a time or not at all.

The whole body is read here, up to the size limit and within the deadline, and then handed on
in one piece: the API takes only small JSON and form bodies, which FastAPI would read whole
anyway, so buffering costs nothing more and gives one place where both limits hold.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autopack.server.problems import problem_response


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, title: str, detail: str
) -> None:
    response = problem_response(status, title, detail, scope.get("path"))
    # The unread rest of the body would otherwise be parsed as the next request.
    response.headers["connection"] = "close"
    await response(scope, receive, send)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, timeout_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body is over the server's limit of {self.max_bytes:,} bytes"
        await _refuse(scope, receive, send, 413, "Content Too Large", detail)

    async def _too_slow(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = (
            f"the request body did not arrive within {self.timeout_seconds:g} s "
            "of the request's headers"
        )
        await _refuse(scope, receive, send, 408, "Request Timeout", detail)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        # One deadline for the whole body, not per chunk: a byte every few seconds must not
        # keep a request alive for ever.
        deadline = asyncio.get_running_loop().time() + self.timeout_seconds
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                await self._too_slow(scope, receive, send)
                return
            if message["type"] == "http.disconnect":
                return  # nobody is left to answer
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body: the disconnect that event streams wait for

        await self.app(scope, replay, send)
