"""A lean MCP client for load: raw HTTP/1.1 on asyncio protocols, speaking the 2026-07-28 envelope.

One :class:`McpConnection` is one keep-alive TCP connection carrying one request at a time. A
``tools/call`` is a single POST with the ``MCP-Protocol-Version``, ``Mcp-Method`` and ``Mcp-Name``
headers and ``params._meta`` holding the protocol version, client capabilities and a progress token.
The answer is either JSON (``want=false``) or SSE: progress notifications, then the result. Each
progress notification is handed to a callback with the time its bytes arrived (``time.time()``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PROTOCOL_VERSION = "2026-07-28"
PROGRESS_PREFIX = b'{"jsonrpc":"2.0","method":"notifications/progress"'

ProgressCallback = Callable[[bytes, float], None]


def call_request(host: str, tool: str, arguments: dict[str, Any], request_id: int, *, progress: bool = True) -> bytes:
    """The bytes of one modern ``tools/call`` POST to ``/mcp``."""
    meta: dict[str, Any] = {
        "io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "mempool-ws-bench", "version": "1"},
    }
    if progress:
        meta["progressToken"] = f"p{request_id}"
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments, "_meta": meta},
        },
        separators=(",", ":"),
    ).encode()
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\n"
        f"MCP-Protocol-Version: {PROTOCOL_VERSION}\r\nMcp-Method: tools/call\r\nMcp-Name: {tool}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass(slots=True)
class Reply:
    """The end of one exchange."""

    status: int
    sse: bool
    message: bytes
    """The final JSON-RPC message (result or error)."""
    progress: int
    """Progress notifications received before it."""
    finished: float
    """``time.time()`` when the last byte arrived."""

    @property
    def ok(self) -> bool:
        """A 200 carrying a result that is not a tool error."""
        return self.status == 200 and b'"result"' in self.message and b'"isError":true' not in self.message


class _Exchange:
    """Incremental parser of one HTTP response (content-length or chunked; JSON or SSE body)."""

    def __init__(self, on_progress: ProgressCallback | None) -> None:
        self.on_progress = on_progress
        self.buffer = b""
        self.status = 0
        self.headers_done = False
        self.chunked = False
        self.sse = False
        self.remaining = 0
        self.body = b""
        self.events = b""
        self.final = b""
        self.progress = 0
        self.done = False

    def feed(self, data: bytes, now: float) -> None:
        self.buffer += data
        if not self.headers_done and not self._headers():
            return
        if self.chunked:
            self._chunks(now)
        else:
            take = self.buffer[: self.remaining]
            self.buffer = self.buffer[len(take) :]
            self.remaining -= len(take)
            self.body += take
            if self.remaining == 0:
                self.final, self.done = self.body, True

    def _headers(self) -> bool:
        head, sep, rest = self.buffer.partition(b"\r\n\r\n")
        if not sep:
            return False
        lines = head.split(b"\r\n")
        self.status = int(lines[0].split(b" ", 2)[1])
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"transfer-encoding" and b"chunked" in value:
                self.chunked = True
            elif name == b"content-length":
                self.remaining = int(value)
            elif name == b"content-type":
                self.sse = value.startswith(b"text/event-stream")
        self.buffer, self.headers_done = rest, True
        return True

    def _chunks(self, now: float) -> None:
        while True:
            size_line, sep, rest = self.buffer.partition(b"\r\n")
            if not sep:
                return
            size = int(size_line.split(b";", 1)[0], 16)
            if len(rest) < size + 2:
                return
            self.buffer = rest[size + 2 :]
            if size == 0:
                self.done = True
                if not self.sse:
                    self.final = self.body
                return
            if self.sse:
                self._sse(rest[:size], now)
            else:
                self.body += rest[:size]

    def _sse(self, data: bytes, now: float) -> None:
        self.events += data
        while True:
            event, sep, rest = self.events.partition(b"\r\n\r\n")
            if not sep:
                return
            self.events = rest
            for line in event.split(b"\r\n"):
                if not line.startswith(b"data: "):
                    continue
                payload = line[6:]
                if payload.startswith(PROGRESS_PREFIX):
                    self.progress += 1
                    if self.on_progress is not None:
                        self.on_progress(payload, now)
                else:
                    self.final = payload


class McpConnection(asyncio.Protocol):
    """One keep-alive connection to a gateway, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._exchange: _Exchange | None = None
        self._waiter: asyncio.Future[Reply] | None = None
        self.closed = False

    @classmethod
    async def open(cls, host: str, port: int) -> McpConnection:
        """Connect to ``host:port``."""
        _, protocol = await asyncio.get_running_loop().create_connection(cls, host, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        now = time.time()
        exchange = self._exchange
        if exchange is None:
            return
        exchange.feed(data, now)
        if exchange.done:
            self._exchange = None
            waiter, self._waiter = self._waiter, None
            if waiter is not None and not waiter.done():
                reply = Reply(exchange.status, exchange.sse, exchange.final, exchange.progress, now)
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError(f"connection closed: {exc}"))

    def send(self, request: bytes, on_progress: ProgressCallback | None = None) -> asyncio.Future[Reply]:
        """Send one request; the future resolves with its reply."""
        if self.transport is None or self.closed:
            raise ConnectionError("not connected")
        if self._waiter is not None:
            raise RuntimeError("one request at a time")
        self._exchange = _Exchange(on_progress)
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._waiter

    def close(self) -> None:
        """Close the connection (a streaming call in flight is cancelled by the server)."""
        if self.transport is not None:
            self.transport.close()
