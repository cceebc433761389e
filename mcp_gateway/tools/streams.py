"""The four topic stream tools: stream_blocks, stream_mempool_blocks, stream_stats, stream_live2h."""

# Annotations are evaluated at definition time on purpose: parameter bounds come from the settings.

from collections.abc import Callable
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
    ProgressSource,
    StreamRequest,
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


def request_parser(gateway: Gateway) -> Callable[..., StreamRequest]:
    """The parameters of every topic stream tool, as a function from arguments to a :class:`StreamRequest`.

    The tools' signature (what FastMCP validates and lists) and the fast path's validation
    (:mod:`mcp_gateway.fastpath`, a ``TypeAdapter`` of this function) are this one signature.
    """
    settings = gateway.settings
    max_events_type = max_events_param(settings)
    timeout_type = timeout_param(settings)

    def parse(
        want: WantParam = True,
        max_events: max_events_type = None,  # type: ignore[valid-type]
        timeout_s: timeout_type = settings.default_timeout_s,  # type: ignore[valid-type]
        cursor: CursorParam = None,
        full: FullParam = False,
        network: NetworkParam = settings.network,
    ) -> StreamRequest:
        return stream_request(
            gateway,
            want=want,
            max_events=max_events,
            timeout_s=timeout_s,
            cursor=cursor,
            network=network,
            full=full,
        )

    return parse


async def topic_answer(gateway: Gateway, topic: str, request: StreamRequest, progress: ProgressSource) -> ToolResult:
    """THE answer of a topic stream call, on any transport: a pull (``want=false``) or a wait."""
    if not request.want:
        return await pull(gateway, request, topic)
    return await wait(gateway, progress, request, topic)


def _register_topic(mcp: FastMCP, gateway: Gateway, spec: TopicTool) -> None:
    settings = gateway.settings
    max_events_type = max_events_param(settings)
    timeout_type = timeout_param(settings)
    parse = request_parser(gateway)

    async def stream_tool(  # the signature of request_parser, plus the context (test_fast_path checks it)
        want: WantParam = True,
        max_events: max_events_type = None,  # type: ignore[valid-type]
        timeout_s: timeout_type = settings.default_timeout_s,  # type: ignore[valid-type]
        cursor: CursorParam = None,
        full: FullParam = False,
        network: NetworkParam = settings.network,
        ctx: Context = CurrentContext(),
    ) -> ToolResult:
        request = parse(
            want=want, max_events=max_events, timeout_s=timeout_s, cursor=cursor, full=full, network=network
        )
        return await topic_answer(gateway, spec.topic, request, ctx)

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
