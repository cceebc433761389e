"""The gateway's HTTP app: MCP at ``/mcp`` (stateless Streamable HTTP, SSE on), plus the probes.

``/healthz``, ``/readyz`` and ``/metrics`` sit outside the Host/Origin guard and the optional bearer
token, so Kubernetes probes and Prometheus reach them by pod IP. ``/mcp`` is guarded.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Sequence

from fastmcp import FastMCP
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_gateway.gateway import Gateway
from shared.metrics import metrics_endpoint

MCP_PATH = "/mcp"


class BearerAuth:
    """Rejects requests without ``Authorization: Bearer <token>`` (constant-time comparison)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                response = JSONResponse(
                    {"error": "unauthorized", "detail": "send 'Authorization: Bearer <token>'"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="mempool-ws"'},
                )
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


def create_app(gateway: Gateway, mcp: FastMCP, extra_registries: Sequence[CollectorRegistry] = ()) -> Starlette:
    """The ASGI app of one gateway process (``extra_registries`` join ``/metrics``, e.g. the ingestor's)."""
    settings = gateway.settings
    mcp_app = mcp.http_app(
        path=MCP_PATH,
        stateless_http=True,
        json_response=False,
        host_origin_protection=settings.dns_rebinding_protection,
        allowed_hosts=settings.allowed_hosts,
        allowed_origins=settings.allowed_origins,
    )
    guarded: ASGIApp = mcp_app
    if settings.auth_token is not None:
        guarded = BearerAuth(mcp_app, settings.auth_token.get_secret_value())
    started = time.time()

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "uptime_s": round(time.time() - started, 1)})

    async def readyz(request: Request) -> JSONResponse:
        # Ready exactly when a waiting call gets every event published now: the bus answers and this process
        # is not shutting down. A missing or disconnected ingestor leaves the pod ready (see availability).
        availability = await gateway.availability(settings.network)
        body = {
            "ready": availability.ready,
            "status": availability.status,
            "reasons": list(availability.reasons),
            "active_streams": gateway.active_streams,
        }
        return JSONResponse(body, status_code=200 if availability.ready else 503)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint(gateway.metrics.registry, *extra_registries)),  # type: ignore[arg-type]
            Mount("/", app=guarded),
        ],
        lifespan=mcp_app.lifespan,
    )
