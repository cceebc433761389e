"""The four topic stream tools: stream_blocks, stream_mempool_blocks, stream_stats, stream_live2h."""

# Annotations are evaluated at definition time on purpose: parameter bounds come from the settings.

from dataclasses import dataclass

from fastmcp import Context, FastMCP
from fastmcp.dependencies import CurrentContext
from fastmcp.tools import ToolResult
from mcp_types import ToolAnnotations
from pydantic import BaseModel

from mcp_gateway.gateway import Gateway
from mcp_gateway.models import BlockView, ChartPointView, MempoolBlocksView, StatsView, StreamResult
from mcp_gateway.tools.common import (
    CursorParam,
    FullParam,
    NetworkParam,
    WantParam,
    max_events_param,
    pull,
    register_tool,
    stream_request,
    timeout_param,
    wait,
)
from shared.events import TOPIC_BLOCKS, TOPIC_LIVE_2H, TOPIC_MEMPOOL_BLOCKS, TOPIC_STATS

LOOP_DOC = "Call again with the result's cursor: nothing is missed or repeated."

STREAM_ANNOTATIONS = ToolAnnotations(read_only_hint=True)


@dataclass(frozen=True)
class TopicTool:
    """How one topic is exposed as a tool."""

    name: str
    title: str
    topic: str
    summary: str
    view: type[BaseModel]


TOPIC_TOOLS = (
    TopicTool(
        "stream_blocks",
        "Stream new blocks",
        TOPIC_BLOCKS,
        "New blocks: height, hash, time, size, fee rates (sat/vB), fees, pool. About one per 10 minutes, so quiet "
        "results are normal (timeout_s up to 300 if your client waits that long).",
        BlockView,
    ),
    TopicTool(
        "stream_mempool_blocks",
        "Stream projected blocks",
        TOPIC_MEMPOOL_BLOCKS,
        "Projected blocks, next first: fee rates (sat/vB), sizes; next_block_median_fee_rate gets into the next "
        "block now. Updates every few seconds.",
        MempoolBlocksView,
    ),
    TopicTool(
        "stream_stats",
        "Stream mempool statistics",
        TOPIC_STATS,
        "Mempool size, inflow (vB/s), recommended fees (sat/vB), difficulty epoch; want=false gives current fees "
        "at once. Updates every few seconds.",
        StatsView,
    ),
    TopicTool(
        "stream_live2h",
        "Stream the 2-hour fee chart",
        TOPIC_LIVE_2H,
        "The 2-hour fee chart: vsize per fee band, inflow, minimum fee; a point a minute and at each block.",
        ChartPointView,
    ),
)


def register(mcp: FastMCP, gateway: Gateway) -> None:
    """Add the four topic stream tools to ``mcp``."""
    for spec in TOPIC_TOOLS:
        _register_topic(mcp, gateway, spec)


def _register_topic(mcp: FastMCP, gateway: Gateway, spec: TopicTool) -> None:
    settings = gateway.settings
    max_events_type = max_events_param(settings)
    timeout_type = timeout_param(settings)

    async def stream_tool(
        want: WantParam = True,
        max_events: max_events_type = None,  # type: ignore[valid-type]
        timeout_s: timeout_type = settings.default_timeout_s,  # type: ignore[valid-type]
        cursor: CursorParam = None,
        full: FullParam = False,
        network: NetworkParam = settings.network,
        ctx: Context = CurrentContext(),
    ) -> ToolResult:
        request = stream_request(
            gateway,
            want=want,
            max_events=max_events,
            timeout_s=timeout_s,
            cursor=cursor,
            network=network,
            full=full,
        )
        if not request.want:
            return await pull(gateway, request, spec.topic)
        return await wait(gateway, ctx, request, spec.topic)

    stream_tool.__name__ = stream_tool.__qualname__ = spec.name
    register_tool(
        mcp,
        stream_tool,
        name=spec.name,
        title=spec.title,
        description=f"{spec.summary} {LOOP_DOC}",
        result=StreamResult[spec.view],  # type: ignore[name-defined]
        annotations=STREAM_ANNOTATIONS,
        networks=gateway.settings.served_networks,
    )
