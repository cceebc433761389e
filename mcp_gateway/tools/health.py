"""The health tool: is the service usable for a network, and if not, why."""

# Annotations are evaluated at definition time on purpose: the network's default comes from the settings.

import time
from typing import Any

from fastmcp import FastMCP
from fastmcp.tools import ToolResult
from mcp_types import ToolAnnotations

from mcp_gateway.gateway import Gateway
from mcp_gateway.models import HealthReport
from mcp_gateway.tools.common import NetworkParam, register_tool, text_result
from mcp_gateway.views import seconds, without_nulls
from shared.bus import Backend
from shared.bus.redis import RedisBackend
from shared.version import VERSION

DESCRIPTION = (
    "Status ok, degraded (calls still wait) or down, with the reasons and each topic's latest event age. "
    "Call it when a result is quiet or an error points at the service."
)


async def health_report(gateway: Gateway, network: str) -> dict[str, Any]:
    """The health of ``network`` as this gateway sees it (``HealthReport``): the verdict admission follows."""
    availability = await gateway.availability(network)
    status = availability.ingestor
    age = availability.last_frame_age_s
    now = time.time()
    report = {
        "status": availability.status,
        "reasons": list(availability.reasons),
        "network": network,
        "bus": availability.bus,
        "bus_kind": bus_kind(gateway.backend),
        "upstream_connected": availability.upstream_connected,
        "last_upstream_frame_age_s": seconds(age) if age is not None else None,
        "topics": [
            {
                "topic": topic.topic,
                "latest_id": topic.event_id,
                "age_s": seconds(now - topic.ts_ms / 1000) if topic.ts_ms is not None else None,
            }
            for topic in availability.topics
        ],
        "tracked_addresses": status.tracked_addresses if status else None,
        "address_capacity": status.address_capacity if status else None,
        "tracked_txs": status.tracked_txs if status else None,
        "tx_capacity": status.tx_capacity if status else None,
        "active_streams": gateway.active_streams,
        "version": VERSION,
    }
    return dict(without_nulls(report))  # what is not known is left out


def health_summary(report: dict[str, Any]) -> str:
    """The one-line summary of a health report."""
    head = f"{report['status']} on {report['network']}"
    if report["reasons"]:
        head += ": " + "; ".join(report["reasons"])
    ages = [f"{topic['topic']} {topic['age_s']:g} s" for topic in report["topics"] if "age_s" in topic]
    return head + (f"; latest event ages: {', '.join(ages)}" if ages else "; no events yet")


async def health_result(gateway: Gateway, network: str) -> ToolResult:
    """THE result of a health call: the report and its summary line."""
    report = await health_report(gateway, network)
    return text_result(health_summary(report), report)


def bus_kind(backend: Backend) -> str:
    """``embedded``, or the Redis topology: ``redis`` (one server), ``redis-sentinel`` or ``redis-cluster``."""
    if isinstance(backend, RedisBackend):
        topology = backend.location.topology
        return "redis" if topology == "single" else f"redis-{topology}"
    return "embedded"


def register(mcp: FastMCP, gateway: Gateway) -> None:
    """Add the health tool to ``mcp``."""

    async def health(network: NetworkParam = gateway.settings.network) -> ToolResult:
        return await health_result(gateway, network)

    register_tool(
        mcp,
        health,
        name="health",
        title="Service health",
        description=DESCRIPTION,
        result=HealthReport,
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
        networks=gateway.settings.served_networks,
    )
