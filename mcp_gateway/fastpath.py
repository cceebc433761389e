"""The fast path: the gateway's own lean answer to the hot request, in front of FastMCP's MCP endpoint.

The hot request is a ``tools/call`` of a topic stream tool (``stream_stats``, ``stream_blocks``, ...) in
the 2026-07-28 wire: one self-contained POST whose ``Mcp-Method`` and ``Mcp-Name`` headers name the
method and the tool. FastMCP and the MCP SDK spend a task group, memory streams, a middleware chain and
several pydantic models on each such call; this handler answers it with the same bytes for a fraction
of the memory and CPU:

* the request is checked as the SDK's modern entry checks it (``Content-Type``, ``Accept``, the routing
  headers, the envelope ladder, ``Mcp-Param-*`` headers, with the SDK's own public functions), and the
  arguments are validated by a ``TypeAdapter`` of the very function that parses the tools' arguments
  (:func:`mcp_gateway.tools.streams.request_parser`);
* the call runs the tools' own answer (:func:`~mcp_gateway.tools.streams.topic_answer`: cursor, timeout,
  admission, capacity, keep-alive progress, metrics through :func:`~mcp_gateway.callmetrics.counted_call`),
  its progress written as pre-encoded SSE frames (:class:`~mcp_gateway.tools.progress.ProgressFrames`)
  into one bounded buffer that the request's coroutine writes out (:mod:`mcp_gateway.fastwire`);
* the result goes through the same wire shaping as FastMCP's (:func:`mcp_gateway.sdk.call_result_wire`).

Anything else goes to FastMCP untouched (the body is replayed): other methods, tools and protocol
versions, handshake-era sessions, and any request the checks above would refuse or are unsure of (a
malformed body, a bad header, an invalid argument, unknown ``_meta`` keys): FastMCP then answers it,
refusal included, exactly as it always did. ``MEMPOOL_WS_FAST_PATH=0`` turns the fast path off.
Every call it answers counts in ``gateway_fast_path_calls_total``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from fastmcp import FastMCP
from fastmcp.exceptions import FastMCPError
from mcp.server.streamable_http import check_accept_headers
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.inbound import (
    MCP_PARAM_HEADER_PREFIX,
    InboundModernRoute,
    classify_inbound_request,
    find_duplicated_routing_header,
    validate_mcp_param_headers,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_gateway import sdk
from mcp_gateway.callmetrics import counted_call
from mcp_gateway.fastwire import FrameBuffer, write_reply
from mcp_gateway.gateway import Gateway
from mcp_gateway.tools.common import StreamRequest
from mcp_gateway.tools.keepalive import CallProgress
from mcp_gateway.tools.progress import ProgressFrames
from mcp_gateway.tools.streams import TOPIC_TOOLS, request_parser, topic_answer

log = logging.getLogger("fastmcp.server.server")
"""FastMCP's logger of tool calls: the fast path's lines about a call are FastMCP's, filtered the same way."""

BODY_LIMIT = 64 * 1024
"""Bodies larger than this go to FastMCP (a stream call's body is a few hundred bytes)."""
_MODERN = {version.encode() for version in MODERN_PROTOCOL_VERSIONS}
_ENVELOPE_KEYS = frozenset({"jsonrpc", "id", "method", "params"})
_PARAM_KEYS = frozenset({"name", "arguments", "_meta"})
_META_KEYS = frozenset(
    {
        "progressToken",
        "io.modelcontextprotocol/protocolVersion",
        "io.modelcontextprotocol/clientCapabilities",
        "io.modelcontextprotocol/clientInfo",
        "io.modelcontextprotocol/logLevel",
    }
)
_PARAM_HEADER = MCP_PARAM_HEADER_PREFIX.lower()
_POST_CHECK = TransportSecurityMiddleware(TransportSecuritySettings(enable_dns_rebinding_protection=False))
"""The SDK's check of a POST as FastMCP configures it (its Host/Origin guard runs before this handler)."""


@dataclass(frozen=True, slots=True)
class FastCall:
    """A recognized hot request."""

    request_id: str | int
    tool: str
    topic: str
    request: StreamRequest
    token: str | int | None
    version: str


class FastPath:
    """ASGI middleware in front of the gateway's app: answers the hot request, passes the rest on.

    ``authorized`` (the bearer check, if any) and ``guard`` (which wraps the fast handler in FastMCP's
    Host/Origin guard) are the checks the app makes before FastMCP's endpoint: a request the bearer
    check refuses goes to the app (which answers 401); one the guard refuses gets the guard's answer.
    """

    def __init__(
        self,
        app: ASGIApp,
        gateway: Gateway,
        mcp: FastMCP,
        *,
        path: str,
        authorized: Callable[[Scope], bool] | None = None,
        guard: Callable[[ASGIApp], ASGIApp] | None = None,
    ) -> None:
        self._app = app
        self._authorized = authorized
        self._guarded = guard(self._serve) if guard is not None else self._serve
        self._gateway = gateway
        self._mcp = mcp
        self._path = path
        self._topics = {spec.name: spec.topic for spec in TOPIC_TOOLS}
        self._names = {name.encode() for name in self._topics}
        self._arguments: TypeAdapter[Any] = TypeAdapter(cast(Any, request_parser(gateway)))  # validates, parses
        self._stamp = sdk.server_info_stamp(mcp)
        self._enabled = gateway.settings.fast_path and self._stamp is not None and not sdk.caches_tool_calls(mcp)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._enabled or not self._hot(scope) or (self._authorized is not None and not self._authorized(scope)):
            await self._app(scope, receive, send)
            return
        await self._guarded(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = await self._take(scope, receive, send)
        if call is None:
            return
        self._gateway.metrics.fast_path_calls.labels(call.tool).inc()
        buffer = FrameBuffer()
        await write_reply(lambda: self._answer(call, buffer), buffer, scope, receive, send)

    async def _take(self, scope: Scope, receive: Receive, send: Send) -> FastCall | None:
        """The call to answer; or None once the request went to the app (the body is not kept for the call)."""
        messages, body, complete = await _read_body(receive, BODY_LIMIT)
        call = await self._recognize(scope, body) if complete else None
        if call is None:
            await self._app(scope, _replaying(messages, receive), send)
        return call

    def _hot(self, scope: Scope) -> bool:
        """What the headers alone tell: a modern POST to the endpoint calling one of the fast tools."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self._path:
            return False
        version = method = name = None
        for key, value in scope["headers"]:
            if key == b"mcp-protocol-version":
                version = value
            elif key == b"mcp-method":
                method = value
            elif key == b"mcp-name":
                name = value
        return version in _MODERN and method == b"tools/call" and name in self._names

    async def _recognize(self, scope: Scope, body: bytes) -> FastCall | None:
        """The call, when every check the SDK and FastMCP make before running a tool passes; else None."""
        request = Request(scope)
        headers = request.headers
        has_json, has_sse = check_accept_headers(request)
        if not (has_json and has_sse) or await _POST_CHECK.validate_request(request, is_post=True) is not None:
            return None
        try:
            decoded = json.loads(body)
        except (ValueError, RecursionError):
            return None
        if not _well_formed(decoded) or find_duplicated_routing_header(headers.items()) is not None:
            return None
        verdict = classify_inbound_request(decoded, headers=dict(headers))
        if not isinstance(verdict, InboundModernRoute):
            return None
        params = decoded["params"]
        tool, arguments = params["name"], params.get("arguments", {})
        tool = next(name for name in self._topics if name == tool)  # the long-lived string, not the body's
        if self._mcp_param_rejected(tool, arguments, headers):
            return None
        try:
            parsed: StreamRequest = self._arguments.validate_python(arguments)
        except Exception:  # an invalid argument: FastMCP refuses it in its own words
            return None
        meta = params["_meta"]
        return FastCall(
            decoded["id"], tool, self._topics[tool], parsed, meta.get("progressToken"), verdict.protocol_version
        )

    def _mcp_param_rejected(self, tool: str, arguments: Mapping[str, Any], headers: Mapping[str, str]) -> bool:
        """Whether the SDK would refuse the call's ``Mcp-Param-*`` headers (or could not check them)."""
        if not arguments and not any(header.startswith(_PARAM_HEADER) for header in headers):
            return False
        lookup = sdk.input_schema_lookup(self._mcp)
        schema = lookup(tool) if lookup is not None else None
        return schema is None or validate_mcp_param_headers(schema, arguments, headers) is not None

    async def _answer(self, call: FastCall, buffer: FrameBuffer) -> str:
        """Run the call as the tool would; the JSON of its JSON-RPC reply."""
        gateway = self._gateway
        progress = CallProgress(_sender(call.token, buffer), gateway.settings.keepalive_interval_s)
        try:
            with counted_call(gateway.metrics, call.tool):
                try:
                    result = await topic_answer(gateway, call.topic, call.request, progress)
                except FastMCPError as exc:
                    log.log(exc.log_level or logging.ERROR, "Error calling tool %r", call.tool)
                    raise
                except Exception as exc:
                    log.error("Error calling tool %r", call.tool, exc_info=True)
                    raise sdk.masked_tool_error(call.tool, exc) from exc
            model = sdk.call_result_model(result)
        except FastMCPError as exc:  # a refusal or a masked failure: an error result, as FastMCP returns it
            model = sdk.error_result_model(exc)
        stamp = self._stamp or {}  # there is one whenever the fast path is on
        return sdk.reply_json(call.request_id, sdk.call_result_wire(model, call.version, stamp))


def _well_formed(decoded: Any) -> bool:
    """One JSON-RPC ``tools/call`` request with only the members the fast path knows."""
    if not isinstance(decoded, dict) or not decoded.keys() <= _ENVELOPE_KEYS or decoded.get("jsonrpc") != "2.0":
        return False
    request_id, params = decoded.get("id"), decoded.get("params")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int) or decoded.get("method") != "tools/call":
        return False
    if not isinstance(params, dict) or not params.keys() <= _PARAM_KEYS or not isinstance(params.get("name"), str):
        return False
    meta = params.get("_meta")
    if not isinstance(params.get("arguments", {}), dict) or not isinstance(meta, dict) or not meta.keys() <= _META_KEYS:
        return False
    token = meta.get("progressToken")
    return token is None or (isinstance(token, str | int) and not isinstance(token, bool))


def _sender(token: str | int | None, buffer: FrameBuffer) -> Callable[[int, str, float], Awaitable[None]]:
    """A call's progress sender: frames into its buffer, or nothing without a progress token (as the SDK)."""
    if token is None:

        async def ignore(progress: int, message: str, deadline: float) -> None:
            return None

        return ignore
    frames = ProgressFrames(token)

    async def send(progress: int, message: str, deadline: float) -> None:
        await buffer.put(frames.frame(progress, message), deadline)

    return send


async def _read_body(receive: Receive, limit: int) -> tuple[list[Message], bytes, bool]:
    """The request's messages read (to replay), its body, and whether it is complete within ``limit``."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        if message["type"] != "http.request" or size > limit:
            return messages, b"", False
        if not message.get("more_body", False):
            break
    if len(messages) == 1:
        return messages, messages[0].get("body", b""), True
    return messages, b"".join(m.get("body", b"") for m in messages), True


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that first hands out ``messages`` again."""

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay
