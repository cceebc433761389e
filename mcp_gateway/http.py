"""The gateway's HTTP app: MCP at ``/mcp`` (stateless Streamable HTTP, SSE on), plus the probes.

The hot request (a 2026-07-28 ``tools/call`` of a topic stream tool) is answered by the fast path
(:mod:`mcp_gateway.fastpath`), in front of the app behind the same bearer check and Host/Origin guard;
everything else by FastMCP.
``/healthz``, ``/readyz`` and ``/metrics`` sit outside the Host/Origin guard and the optional bearer
token, so Kubernetes probes and Prometheus reach them by pod IP. ``/mcp`` is guarded.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Sequence
from typing import Any

from fastmcp import FastMCP
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from prometheus_client import CollectorRegistry
from pydantic_core import from_json
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_gateway import sdk
from mcp_gateway.fastpath import FastPath
from mcp_gateway.gateway import Gateway
from shared.metrics import metrics_endpoint

MCP_PATH = "/mcp"
_VERSION_HEADER = b"mcp-protocol-version"
_HANDSHAKE_ERA = {version.encode() for version in HANDSHAKE_PROTOCOL_VERSIONS}


class BearerAuth:
    """Rejects requests without ``Authorization: Bearer <token>`` (constant-time comparison)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    def authorized(self, scope: Scope) -> bool:
        """Whether the request carries the token."""
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        return hmac.compare_digest(given, self._expected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.authorized(scope):
            response = JSONResponse(
                {"error": "unauthorized", "detail": "send 'Authorization: Bearer <token>'"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="mempool-ws"'},
            )
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)


class JsonRpcIdCheck:
    """Answers 400 (JSON-RPC -32600) to a POST whose ``id`` is not a string or an integer.

    MCP requests carry a string or integer id, never null; a message with an ``id`` member is not a
    notification. The SDK's handshake-era transport (no ``MCP-Protocol-Version`` header, or a
    handshake-era one) took a request with any other id (NaN, an object, a float, ...) for a
    notification and answered 202. Only those requests are checked, by parsing the body once more
    (small: bounded by the server's body limit); the SDK's modern entry already refuses them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not _handshake_era(scope):
            await self._app(scope, receive, send)
            return
        messages, body = await _read_body(receive)
        if not _valid_id(body):
            await _invalid_request(scope, receive, send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self._app(scope, replay, send)


def _handshake_era(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == _VERSION_HEADER:
            return value in _HANDSHAKE_ERA
    return True


async def _read_body(receive: Receive) -> tuple[list[Message], bytes]:
    """Every message of the request body (to replay) and the body."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    if len(messages) == 1:
        return messages, messages[0].get("body", b"")
    return messages, b"".join(m.get("body", b"") for m in messages)


def _valid_id(body: bytes) -> bool:
    """False when the body is one JSON-RPC request whose ``id`` is neither a string nor an integer."""
    try:
        message: Any = from_json(body)  # as the SDK's handshake-era transport parses it
    except ValueError:
        return True  # not JSON: the SDK answers with a parse error
    if not isinstance(message, dict) or "id" not in message or "method" not in message:
        return True  # a notification, or not a request: the SDK judges it
    request_id = message["id"]
    return isinstance(request_id, str) or (isinstance(request_id, int) and not isinstance(request_id, bool))


async def _invalid_request(scope: Scope, receive: Receive, send: Send) -> None:
    error = {"code": -32600, "message": "Invalid Request: the id must be a string or an integer"}
    response = JSONResponse({"jsonrpc": "2.0", "id": None, "error": error}, status_code=400)
    await response(scope, receive, send)


def create_app(gateway: Gateway, mcp: FastMCP, extra_registries: Sequence[CollectorRegistry] = ()) -> ASGIApp:
    """The ASGI app of one gateway process (``extra_registries`` join ``/metrics``, e.g. the ingestor's)."""
    settings = gateway.settings
    protection, hosts, origins = settings.dns_rebinding_protection, settings.allowed_hosts, settings.allowed_origins
    mcp_app = mcp.http_app(
        path=MCP_PATH,
        middleware=[Middleware(JsonRpcIdCheck)],
        stateless_http=True,
        json_response=False,
        host_origin_protection=protection,
        allowed_hosts=hosts,
        allowed_origins=origins,
    )
    guarded: ASGIApp = mcp_app
    bearer = None
    if settings.auth_token is not None:
        guarded = bearer = BearerAuth(mcp_app, settings.auth_token.get_secret_value())
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

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint(gateway.metrics.registry, *extra_registries)),  # type: ignore[arg-type]
            Mount("/", app=guarded),
        ],
        lifespan=mcp_app.lifespan,
    )
    # In front of everything: the hot request skips the routing and middleware layers (each held for the
    # whole of a waiting call), behind the same bearer check and the same Host/Origin guard as FastMCP's.
    return FastPath(
        app,
        gateway,
        mcp,
        path=MCP_PATH,
        authorized=bearer.authorized if bearer is not None else None,
        guard=lambda inner: sdk.host_origin_guard(
            inner, host_origin_protection=protection, allowed_hosts=hosts, allowed_origins=origins
        ),
    )
