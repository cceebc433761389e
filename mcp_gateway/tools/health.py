"""The health tool: is the service usable for a network, and if not, why."""

from __future__ import annotations

import time
from typing import Annotated

from fastmcp import FastMCP
from mcp_types import ToolAnnotations
from pydantic import Field

from mcp_gateway.gateway import Gateway
from mcp_gateway.models import HealthReport, TopicAge
from mcp_gateway.tools.common import NETWORK_DOC
from shared.bus import MemoryBackend
from shared.errors import BusError
from shared.events import STREAM_TOPICS
from shared.settings import Network
from shared.version import VERSION


async def health_report(gateway: Gateway, network: str) -> HealthReport:
    """The health of ``network`` as this gateway sees it."""
    state = await gateway.upstream_state(network)
    bus_ok = True
    topics: list[TopicAge] = []
    try:
        for topic in STREAM_TOPICS:
            latest = await gateway.backend.latest(network, topic)
            age = round(time.time() - latest.ts_ms / 1000, 3) if latest else None
            topics.append(TopicAge(topic=topic, latest_id=latest.id if latest else None, age_s=age))
    except BusError:
        bus_ok = False
    status = state.ingestor
    age = round(state.last_frame_age_s, 3) if state.last_frame_age_s is not None else None
    return HealthReport(
        status=state.status if bus_ok else "down",  # type: ignore[arg-type]
        reasons=list(state.reasons) if bus_ok else ["event bus (Redis) unreachable"],
        network=network,
        bus="ok" if bus_ok else "unreachable",
        bus_kind="embedded" if isinstance(gateway.backend, MemoryBackend) else "redis",
        upstream_connected=state.upstream_connected,
        last_upstream_frame_age_s=age,
        topics=topics,
        tracked_addresses=status.tracked_addresses if status else None,
        address_capacity=status.address_capacity if status else None,
        active_streams=gateway.active_streams,
        version=VERSION,
    )


def register(mcp: FastMCP, gateway: Gateway) -> None:
    """Add the health tool to ``mcp``."""

    async def health(network: Annotated[Network | None, Field(description=NETWORK_DOC)] = None) -> HealthReport:
        return await health_report(gateway, network or gateway.settings.network)

    mcp.tool(
        health,
        name="health",
        title="Service health",
        description=(
            "Health of the mempool feed: status 'ok' when data is flowing; 'degraded' or 'down' with the "
            "reasons (upstream disconnected, data stale, Redis unreachable), plus the age of each topic's "
            "latest event and address-tracking capacity. Call it when another tool reports the upstream "
            "unavailable."
        ),
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
