"""Building the FastMCP server (``mempool-ws``) of a gateway: tools, resources, listen, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import mcp_types
from fastmcp import FastMCP
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext

from mcp_gateway import listen, prompts, resources, sdk
from mcp_gateway.callmetrics import counted_call
from mcp_gateway.gateway import Gateway
from mcp_gateway.tools import address, alert, health, streams, tx
from mcp_gateway.tools.explain import PlainValidationErrors
from shared.version import VERSION

SERVER_NAME = "mempool-ws"
INSTRUCTIONS = (
    "Real-time Bitcoin data from mempool.space. Stream tools (stream_blocks, stream_mempool_blocks, "
    "stream_stats, stream_live2h, track_address, track_tx) wait for new events and return them with a cursor; "
    "call again with that cursor to continue without missing events. Use want=false for an instant "
    "snapshot (e.g. current fees: stream_stats with want=false). alert_when waits for a threshold. "
    "health explains any outage. Each result starts with a one-line summary; events show a compact view "
    "(full=true for every field). Fee rates are sat/vB, amounts sats, sizes vB."
)


class ToolMetrics(Middleware):
    """Counts tool calls by tool and outcome, and times them."""

    def __init__(self, gateway: Gateway) -> None:
        self._metrics = gateway.metrics

    async def on_call_tool(
        self,
        context: MiddlewareContext[mcp_types.CallToolRequestParams],
        call_next: CallNext[mcp_types.CallToolRequestParams, Any],
    ) -> Any:
        with counted_call(self._metrics, context.message.name):
            return await call_next(context)


async def _serve_input_schemas(server: FastMCP) -> None:
    """Answer the SDK's per-call ``Mcp-Param-*`` header check from a tool list built once.

    Without a lookup, the SDK lists (and dereferences) every tool on each ``tools/call`` with
    arguments, which cost ~25 ms per call. The tools are fixed once the server is built.
    """
    sdk.serve_input_schemas(server, {tool.name: tool.parameters for tool in await server.list_tools()})


def build_server(gateway: Gateway) -> FastMCP:
    """The MCP server of ``gateway``; its lifespan starts and stops the gateway runtime."""
    sdk.check_versions()

    @asynccontextmanager
    async def lifespan(server: FastMCP) -> AsyncIterator[dict[str, Any]]:
        await gateway.start()
        await _serve_input_schemas(server)
        try:
            yield {"gateway": gateway}
        finally:
            await gateway.stop()

    mcp: FastMCP = FastMCP(
        SERVER_NAME,
        version=VERSION,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        mask_error_details=True,
        dereference_schemas=False,
        middleware=[ToolMetrics(gateway), PlainValidationErrors()],
    )
    sdk.lists_never_change(mcp)
    streams.register(mcp, gateway)
    address.register(mcp, gateway)
    tx.register(mcp, gateway)
    alert.register(mcp, gateway)
    health.register(mcp, gateway)
    prompts.register(mcp)
    resources.register(mcp, gateway)
    listen.register(mcp, gateway)
    return mcp
