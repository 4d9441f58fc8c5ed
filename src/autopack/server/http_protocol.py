"""uvicorn's HTTP/1.1 protocol with a deadline on request headers.

uvicorn (h11) bounds the size of a request's headers (16 KiB) and closes idle keep-alive
connections, but has no clock on headers being sent: a client that opens a connection, sends
`GET / HTTP/1.1` and then nothing more (or a header line every few seconds) holds the connection
for ever, and enough of them exhaust the server's sockets before any middleware is called. Here a
connection that has not completed a request's headers within the deadline, counted from the
connection's start or from the end of the previous response, is closed without an answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class _HeaderDeadline(H11Protocol):
    header_timeout_seconds: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._header_deadline = self.loop.call_later(
                self.header_timeout_seconds, self._headers_too_slow
            )

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the headers are in; the body has its own deadline (body_limit.py)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def header_deadline_protocol(seconds: float) -> type[asyncio.Protocol]:
    """The protocol class to give uvicorn as `http=`: h11 with headers due within `seconds`."""
    return type(
        "HeaderDeadlineH11Protocol", (_HeaderDeadline,), {"header_timeout_seconds": seconds}
    )
