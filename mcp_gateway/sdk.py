"""The one seam between the gateway and the private parts of FastMCP and the MCP SDK.

Every use of an underscore-prefixed attribute or module of ``fastmcp`` or ``mcp`` lives here, each
with a structural check and a public fallback, so upgrading either package is a change to this file
(and its tests) only:

* :func:`low_level_server`: the SDK server FastMCP wraps (``FastMCP._mcp_server``), to register
  ``subscriptions/listen`` and the per-call schema lookup. Fallback: no listen handler (logged), the
  SDK's own schema lookup (it lists the tools on each call with arguments: slower, same answers).
* :func:`progress_stream`: the SSE sink and progress token of a 2026-07-28 HTTP request
  (``ServerSession._request_outbound``, a ``_SingleExchangeDispatchContext``). Fallback: None, and the
  caller uses the public ``ctx.report_progress``.
* :func:`sse_frame`: the SDK's SSE framing of a JSON-RPC message (``_sse_event``), rebuilt from public
  models so tests and the fast path can compare against it.
* :data:`SSE_HEADERS` and :data:`SSE_PING_INTERVAL_S`: the response headers of the modern entry's SSE
  answer and its deferral / keep-alive ping interval (``_SSE_HEADERS``, ``_SSE_PING_INTERVAL``).
  Fallback: the values of the tested version.
* :func:`call_result_wire`: the wire form of a ``tools/call`` result as FastMCP and the SDK's runner
  shape it (``_normalize_call_tool_result``, ``ServerRunner._serialize``), rebuilt from public parts
  (``ToolResult.to_mcp_result``, ``mcp_types.methods.serialize_server_result``, ``Server.server_info_stamp``).
* :func:`host_origin_guard`: FastMCP's Host/Origin guard built as ``http_app`` builds it (its private
  ``_host_origin_guard_middleware``). Fallback: the public ``HostOriginGuardMiddleware`` with the same
  mapping (``True``: strict).
* :func:`masked_tool_error`: the ``ToolError`` FastMCP turns an unexpected exception of a tool into.

:data:`TESTED` names the versions these were checked against; any other version logs one warning at
startup (:func:`check_versions`) and the structural checks pick the fallbacks where shapes changed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from fastmcp import Context, FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.http import HostOriginGuardMiddleware
from fastmcp.tools import ToolResult
from fastmcp.utilities.exceptions import get_http_status_code, is_timeout_error
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp_types import (
    SERVER_INFO_META_KEY,
    CallToolResult,
    JSONRPCError,
    JSONRPCNotification,
    JSONRPCResponse,
    TextContent,
)
from mcp_types.methods import serialize_server_result
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.types import ASGIApp

log = logging.getLogger(__name__)

TESTED: dict[str, tuple[str, ...]] = {"fastmcp": ("4.1.2", "4.2.3"), "mcp": ("2.3.0",)}
"""Package versions whose private internals this module was checked against."""

try:  # private: how http_app builds its Host/Origin guard from its arguments
    from fastmcp.server.http import _host_origin_guard_middleware
except ImportError:  # pragma: no cover - the public class with the tested version's mapping
    _host_origin_guard_middleware = None  # type: ignore[assignment]

try:  # private: the modern entry's SSE response headers and deferral / ping interval
    from mcp.server._streamable_http_modern import _SSE_HEADERS as _SDK_SSE_HEADERS
    from mcp.server._streamable_http_modern import _SSE_PING_INTERVAL as _SDK_SSE_PING_INTERVAL
except ImportError:  # pragma: no cover - the values of the tested version
    _SDK_SSE_HEADERS = [  # type: ignore[misc]
        (b"content-type", b"text/event-stream"),
        (b"cache-control", b"no-cache, no-transform"),
        (b"connection", b"keep-alive"),
        (b"x-accel-buffering", b"no"),
    ]
    _SDK_SSE_PING_INTERVAL = 15.0

SSE_HEADERS: list[tuple[bytes, bytes]] = list(_SDK_SSE_HEADERS)
"""Response headers of a 2026-07-28 ``tools/call`` answered as a stream."""
SSE_PING_INTERVAL_S: float = float(_SDK_SSE_PING_INTERVAL)
"""A modern call that emits nothing for this long commits to SSE (then a ``: ping`` after each such pause)."""
SSE_PING = b": ping\r\n\r\n"

try:  # private: the modern-era HTTP dispatch context (holds the SSE sink and the progress token)
    from mcp.server._streamable_http_modern import _SingleExchangeDispatchContext as _ExchangeContext
    from mcp.server._streamable_http_modern import _sse_event
except ImportError:  # pragma: no cover - another SDK layout: progress goes through the public API
    _ExchangeContext = None  # type: ignore[assignment,misc]
    _sse_event = None  # type: ignore[assignment]

ProgressSink = MemoryObjectSendStream[bytes]
RequestHandler = Callable[[Any, Any], Awaitable[Any]]


def installed_versions() -> dict[str, str]:
    """The installed versions of the packages in :data:`TESTED` (``"missing"`` when absent)."""
    found = {}
    for package in TESTED:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "missing"
    return found


def untested_versions() -> dict[str, str]:
    """Installed packages whose version this module was not checked against."""
    return {name: found for name, found in installed_versions().items() if found not in TESTED[name]}


def check_versions() -> bool:
    """Log one warning when an untested FastMCP or SDK version is installed; True when all are tested."""
    untested = untested_versions()
    if untested:
        log.warning(
            "untested %s: mcp_gateway/sdk.py checks the private internals it uses and falls back to the "
            "public API where they changed; run tests/gateway/test_sdk_seam.py",
            ", ".join(f"{name} {found}" for name, found in untested.items()),
        )
    return not untested


def low_level_server(mcp: FastMCP) -> Server[Any] | None:
    """The SDK server ``mcp`` wraps (private ``_mcp_server``), or None when FastMCP no longer has one."""
    server = getattr(mcp, "_mcp_server", None)
    return server if isinstance(server, Server) else None


def serve_input_schemas(mcp: FastMCP, schemas: Mapping[str, Mapping[str, Any]]) -> bool:
    """Answer the SDK's per-call ``Mcp-Param-*`` schema lookup from ``schemas`` (tool name -> input schema).

    Returns False (and the SDK keeps listing the tools on each call) when the hook is not there.
    """
    server = low_level_server(mcp)
    if server is None or not hasattr(server, "get_tool_input_schema"):
        log.warning("the SDK has no get_tool_input_schema hook: each tools/call with arguments lists the tools")
        return False
    server.get_tool_input_schema = dict(schemas).get
    return True


def input_schema_lookup(mcp: FastMCP) -> Callable[[str], Mapping[str, Any] | None] | None:
    """The schema lookup the SDK uses for ``tools/call`` (None: it lists the tools itself)."""
    server = low_level_server(mcp)
    return getattr(server, "get_tool_input_schema", None) if server is not None else None


def lists_never_change(mcp: FastMCP) -> bool:
    """Advertise ``listChanged: false`` for tools, resources and prompts to handshake-era clients.

    FastMCP's SDK server says true by default (``notification_options``); this server never changes a
    list while serving. The 2026-07-28 era derives the flags from ``subscriptions/listen`` itself.
    """
    server = low_level_server(mcp)
    if server is None or not hasattr(server, "notification_options"):
        return False
    server.notification_options = NotificationOptions()
    return True


def add_request_handler(mcp: FastMCP, method: str, params_type: type[Any], handler: RequestHandler) -> bool:
    """Serve ``method`` with ``handler`` on the SDK server (FastMCP has no public way); False if impossible."""
    server = low_level_server(mcp)
    if server is None:
        log.warning("cannot serve %s: FastMCP no longer exposes its SDK server", method)
        return False
    server.add_request_handler(method, params_type, handler)
    return True


def progress_stream(ctx: Context) -> tuple[ProgressSink, str | int] | None:
    """The SSE sink and progress token of the HTTP request behind ``ctx`` (2026-07-28 era only).

    None for every other transport or era, a request without a progress token, or an SDK whose
    private dispatch context changed shape: the caller then uses ``ctx.report_progress``.
    """
    if _ExchangeContext is None:
        return None
    try:
        outbound = getattr(ctx.session, "_request_outbound", None)
    except (RuntimeError, AttributeError):  # no request context
        return None
    if not isinstance(outbound, _ExchangeContext):
        return None
    sink, token = getattr(outbound, "sink", None), getattr(outbound, "progress_token", None)
    if not isinstance(sink, MemoryObjectSendStream) or not isinstance(token, str | int):
        return None
    return sink, token


def context_on_exchange(token: str | int, sink: ProgressSink | None) -> Any:
    """A stand-in for the ``Context`` of a modern HTTP request with ``token`` and ``sink`` (for tests)."""
    assert _ExchangeContext is not None
    outbound = _ExchangeContext.__new__(_ExchangeContext)
    outbound.sink = sink
    outbound.progress_token = token
    session = type("Session", (), {"_request_outbound": outbound})()
    return type("Context", (), {"session": session})()


def sse_frame(message: JSONRPCResponse | JSONRPCError | JSONRPCNotification) -> bytes:
    """One SSE ``event: message`` frame as the SDK's modern HTTP entry writes it (its own function if present)."""
    if _sse_event is not None:
        return _sse_event(message)
    body = message.model_dump(mode="json", by_alias=True, exclude_none=True)  # pragma: no cover
    return f"event: message\r\ndata: {json.dumps(body, separators=(',', ':'))}\r\n\r\n".encode()


CLOSED_STREAM = (anyio.ClosedResourceError, anyio.BrokenResourceError)
"""What sending on a response stream whose request has ended raises."""


def server_info_stamp(mcp: FastMCP) -> dict[str, Any] | None:
    """What the SDK stamps into a 2026-07-28 result's ``_meta`` (None: no SDK server to ask)."""
    server = low_level_server(mcp)
    return server.server_info_stamp if server is not None else None


def caches_tool_calls(mcp: FastMCP) -> bool:
    """Whether the SDK server adds cache hints to ``tools/call`` results (the fast path then stays off)."""
    server = low_level_server(mcp)
    return server is None or "tools/call" in getattr(server, "cache_hints", {})


def call_result_model(result: ToolResult) -> CallToolResult:
    """The ``CallToolResult`` FastMCP answers a tool's :class:`ToolResult` with."""
    raw = result.to_mcp_result()
    if isinstance(raw, CallToolResult):
        return raw
    if isinstance(raw, tuple):
        content, structured = raw
        return CallToolResult(content=content, structured_content=structured)
    return CallToolResult(content=raw)


def error_result_model(exc: Exception) -> CallToolResult:
    """The ``CallToolResult`` FastMCP answers a tool-visible error (a ``FastMCPError``) with."""
    return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)


def call_result_wire(model: CallToolResult, version: str, stamp: dict[str, Any]) -> dict[str, Any]:
    """The ``result`` member of the reply to a ``tools/call`` in protocol ``version``, as the SDK's runner
    shapes it: the surface of that version, ``resultType`` and the server-info stamp (2026-07-28)."""
    dumped = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    dumped = serialize_server_result("tools/call", version, dumped)
    if version in MODERN_PROTOCOL_VERSIONS:
        if dumped.get("resultType") is None:
            dumped["resultType"] = "complete"
        meta = dumped.get("_meta")
        if meta is None:
            dumped["_meta"] = {SERVER_INFO_META_KEY: stamp}
        elif isinstance(meta, dict) and meta.get(SERVER_INFO_META_KEY) is None:
            dumped["_meta"] = {**meta, SERVER_INFO_META_KEY: stamp}
    return dumped


def reply_json(request_id: str | int, result: dict[str, Any]) -> str:
    """The JSON of a JSON-RPC reply carrying ``result``, as the SDK's modern entry writes it."""
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}, separators=(",", ":"))


def sse_data_frame(data: str) -> bytes:
    """One SSE ``event: message`` frame carrying ``data`` (one JSON text), as the SDK frames it."""
    return f"event: message\r\ndata: {data}\r\n\r\n".encode()


def masked_tool_error(tool: str, exc: Exception) -> ToolError:
    """The ``ToolError`` FastMCP (``mask_error_details=True``) reports an unexpected exception of ``tool`` as."""
    if get_http_status_code(exc) == 429:
        return ToolError("Rate limited by upstream API, please retry later")
    if is_timeout_error(exc):
        return ToolError("Upstream request timed out, please retry")
    return ToolError(f"Error calling tool {tool!r}")


def host_origin_guard(
    app: ASGIApp, *, host_origin_protection: bool, allowed_hosts: list[str], allowed_origins: list[str]
) -> ASGIApp:
    """``app`` behind the Host/Origin guard ``FastMCP.http_app`` puts in front of its endpoint for the same
    arguments (``app`` itself when protection is off)."""
    if _host_origin_guard_middleware is not None:
        middleware = _host_origin_guard_middleware(host_origin_protection, allowed_hosts, allowed_origins)
        if middleware is None:
            return app
        guarded: ASGIApp = middleware.cls(app, *middleware.args, **middleware.kwargs)
        return guarded
    if not host_origin_protection:  # pragma: no cover - the fallback
        return app
    return HostOriginGuardMiddleware(  # pragma: no cover - the fallback
        app, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins, mode="strict"
    )
