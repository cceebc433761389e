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
from shared.settings import Network
from shared.version import VERSION


async def health_report(gateway: Gateway, network: str) -> HealthReport:
    """The health of ``network`` as this gateway sees it: the same verdict admission follows."""
    availability = await gateway.availability(network)
    status = availability.ingestor
    age = availability.last_frame_age_s
    now = time.time()
    return HealthReport(
        status=availability.status,
        reasons=list(availability.reasons),
        network=network,
        bus=availability.bus,
        bus_kind="embedded" if isinstance(gateway.backend, MemoryBackend) else "redis",
        upstream_connected=availability.upstream_connected,
        last_upstream_frame_age_s=round(age, 3) if age is not None else None,
        topics=[
            TopicAge(
                topic=topic.topic,
                latest_id=topic.event_id,
                age_s=round(now - topic.ts_ms / 1000, 3) if topic.ts_ms is not None else None,
            )
            for topic in availability.topics
        ],
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
            "Health of the mempool feed: status 'ok' when data is flowing; 'degraded' (waiting calls still "
            "wait and return what arrives) or 'down' (network not served, Redis unreachable) with the reasons, "
            "plus the age of each topic's latest event and address-tracking capacity. Call it when another "
            "tool reports a problem or returns quiet."
        ),
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
