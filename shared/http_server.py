"""Run a Starlette/ASGI app with uvicorn inside an asyncio program that owns its own signal handling."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from typing import Any

import uvicorn


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


_OWS = b" \t"


class TrimmedHeaderValues:
    """Strips optional whitespace around header values (RFC 9110 section 5.5) before the app sees them.

    uvicorn's h11 parser trims it, its httptools parser does not: ``Mcp-Name:  stream_blocks `` must
    still name ``stream_blocks``.
    """

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and any(
            value and (value[0] in _OWS or value[-1] in _OWS) for _, value in scope["headers"]
        ):
            scope = {**scope, "headers": [(name, value.strip(_OWS)) for name, value in scope["headers"]]}
        await self._app(scope, receive, send)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # An explicit IPPROTO_TCP is inherited by accepted sockets, so asyncio turns Nagle off on them.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class HttpServer:
    """An ASGI app served on one socket until :meth:`stop`; signals stay with the caller."""

    def __init__(self, app: Any, host: str, port: int, *, timeout_graceful_shutdown_s: float = 5.0) -> None:
        self._socket = bind_socket(host, port)
        self.host = host
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(
            TrimmedHeaderValues(app),
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=int(timeout_graceful_shutdown_s),
            ws="none",
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """``http://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Start serving and return once the server accepts connections."""
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name="http-server")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the HTTP server stopped during startup")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish within the grace period, then return."""
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._socket.close()

    async def wait(self) -> None:
        """Return when the server stops by itself."""
        if self._task is not None:
            await self._task
