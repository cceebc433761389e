"""A per-request round-robin HTTP proxy on loopback, streaming both ways (for multi-pod tests)."""

from __future__ import annotations

import itertools

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from shared.http_server import HttpServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length"}


class RoundRobinProxy:
    """Sends each HTTP request to the next backend in turn; records where each went."""

    def __init__(self, backends: list[str]) -> None:
        self._backends = itertools.cycle(backends)
        self.routed: list[tuple[str, str]] = []
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=5))
        app = Starlette(routes=[Route("/{path:path}", self._forward, methods=["GET", "POST", "DELETE"])])
        self._server = HttpServer(app, "127.0.0.1", 0)

    @property
    def url(self) -> str:
        """Base URL of the proxy."""
        return self._server.url

    async def start(self) -> None:
        """Start listening."""
        await self._server.start()

    async def stop(self) -> None:
        """Stop listening."""
        await self._server.stop()
        await self._client.aclose()

    async def _forward(self, request: Request) -> StreamingResponse:
        backend = next(self._backends)
        self.routed.append((request.method, backend))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = self._client.build_request(
            request.method, f"{backend}{request.url.path}", headers=headers, content=await request.body()
        )
        response = await self._client.send(upstream, stream=True)
        return StreamingResponse(
            response.aiter_raw(),
            status_code=response.status_code,
            headers={k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP},
            background=BackgroundTask(response.aclose),
        )
