"""The four topic stream tools: stream_blocks, stream_mempool_blocks, stream_stats, stream_live2h."""

# Annotations are evaluated at definition time on purpose: parameter bounds come from the settings.

from dataclasses import dataclass

from fastmcp import Context, FastMCP
from fastmcp.dependencies import CurrentContext
from mcp_types import ToolAnnotations

from mcp_gateway.gateway import Gateway
from mcp_gateway.models import (
    BlockEnvelope,
    FeeChartEnvelope,
    MempoolBlocksEnvelope,
    StatsEnvelope,
    StreamResult,
)
from mcp_gateway.tools.common import (
    CursorParam,
    NetworkParam,
    WantParam,
    bounded_int,
    bounded_seconds,
    pull,
    stream_request,
    wait,
)
from shared.events import TOPIC_BLOCKS, TOPIC_LIVE_2H, TOPIC_MEMPOOL_BLOCKS, TOPIC_STATS

LOOP_DOC = (
    "Every event is also pushed to your client as a progress notification (its message is the event "
    "JSON, its resumable cursor first) the moment it arrives, and all of them are in the result. To follow "
    "the stream without missing anything, call again with the returned cursor; if 'gap' is true some events "
    "were lost (call with want=false for the current state). 'freshness' says whether the upstream is live "
    "and why a call was quiet."
)

STREAM_ANNOTATIONS = ToolAnnotations(read_only_hint=True, idempotent_hint=False, open_world_hint=True)


@dataclass(frozen=True)
class TopicTool:
    """How one topic is exposed as a tool."""

    name: str
    title: str
    topic: str
    summary: str


TOPIC_TOOLS = (
    TopicTool(
        "stream_blocks",
        "Stream new blocks",
        TOPIC_BLOCKS,
        "New Bitcoin blocks as they are mined: height, hash, time, size, transaction count, fees "
        "(median fee rate, fee range in sat/vB, total fees in sats) and the mining pool. Blocks arrive about "
        "every 10 minutes, so wait with a long timeout_s (e.g. 600). want=false returns the latest block "
        "(or the max_events most recent ones) at once.",
    ),
    TopicTool(
        "stream_mempool_blocks",
        "Stream projected blocks",
        TOPIC_MEMPOOL_BLOCKS,
        "Projected next blocks built from the mempool (up to 8, next block first): size, transaction count, "
        "median fee rate and fee range in sat/vB. Updates about every second or two when the mempool "
        "changes. Use next_block_median_fee_rate for 'what fee gets me into the next block now'.",
    ),
    TopicTool(
        "stream_stats",
        "Stream mempool statistics",
        TOPIC_STATS,
        "Mempool size (tx count, vsize in vB), inflow in vB/s, recommended fee rates in sat/vB (fastest, "
        "half_hour, hour, economy, minimum; sub-sat values are possible) and the difficulty adjustment. "
        "Updates about every second or two. want=false is the quickest way to get current fees.",
    ),
    TopicTool(
        "stream_live2h",
        "Stream the 2-hour fee chart",
        TOPIC_LIVE_2H,
        "Points of the 2-hour mempool fee histogram: virtual size per fee band (band floors in sat/vB are "
        "in fee_band_floors), inflow and mempool totals. A point about every minute and at each block.",
    ),
)

ENVELOPES = {
    TOPIC_BLOCKS: BlockEnvelope,
    TOPIC_MEMPOOL_BLOCKS: MempoolBlocksEnvelope,
    TOPIC_STATS: StatsEnvelope,
    TOPIC_LIVE_2H: FeeChartEnvelope,
}


def register(mcp: FastMCP, gateway: Gateway) -> None:
    """Add the four topic stream tools to ``mcp``."""
    for spec in TOPIC_TOOLS:
        _register_topic(mcp, gateway, spec)


def _register_topic(mcp: FastMCP, gateway: Gateway, spec: TopicTool) -> None:
    settings = gateway.settings
    envelope = ENVELOPES[spec.topic]
    max_events_type = bounded_int(
        settings.max_events_limit,
        f"Most events to return (default {settings.default_max_events} when waiting, 1 with want=false; "
        f"at most {settings.max_events_limit}).",
    )
    timeout_type = bounded_seconds(
        settings.max_timeout_s,
        f"Longest wait in seconds (default {settings.default_timeout_s:g}, at most {settings.max_timeout_s:g}).",
    )

    async def stream_tool(
        want: WantParam = True,
        max_events: max_events_type = None,  # type: ignore[valid-type]
        timeout_s: timeout_type = None,  # type: ignore[valid-type]
        cursor: CursorParam = None,
        network: NetworkParam = None,
        ctx: Context = CurrentContext(),
    ) -> StreamResult[envelope]:  # type: ignore[valid-type]
        request = stream_request(
            gateway, want=want, max_events=max_events, timeout_s=timeout_s, cursor=cursor, network=network
        )
        if not request.want:
            return await pull(gateway, request, spec.topic, envelope)
        return await wait(gateway, ctx, request, spec.topic, envelope)

    stream_tool.__name__ = stream_tool.__qualname__ = spec.name
    mcp.tool(
        stream_tool,
        name=spec.name,
        title=spec.title,
        description=f"{spec.summary} {LOOP_DOC}",
        annotations=STREAM_ANNOTATIONS,
    )
