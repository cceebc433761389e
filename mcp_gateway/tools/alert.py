"""The alert_when tool: wait until a mempool metric crosses a threshold (or answer at once if it has)."""

# Annotations are evaluated at definition time on purpose: parameter bounds come from the settings.

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastmcp import Context, FastMCP
from fastmcp.dependencies import CurrentContext
from mcp_types import ToolAnnotations
from pydantic import Field

from mcp_gateway.cursor import Cursor
from mcp_gateway.errors import InvalidParameter
from mcp_gateway.gateway import Gateway
from mcp_gateway.models import AlertResult
from mcp_gateway.tools.common import (
    CursorParam,
    NetworkParam,
    admit,
    bounded_seconds,
    collect_or_explain,
    count_quiet,
    freshness_of,
    stream_request,
)
from shared.errors import BusError
from shared.events import TOPIC_MEMPOOL_BLOCKS, TOPIC_STATS, Event

Extractor = Callable[[dict[str, Any]], float | None]


def _path(*keys: str, scale: float = 1.0) -> Extractor:
    def extract(data: dict[str, Any]) -> float | None:
        value: Any = data
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return float(value) * scale if isinstance(value, int | float) and not isinstance(value, bool) else None

    return extract


@dataclass(frozen=True)
class Metric:
    """A watchable metric: where it comes from and what it means."""

    topic: str
    extract: Extractor
    unit: str


METRICS: dict[str, Metric] = {
    "mempool_vsize_mb": Metric(TOPIC_STATS, _path("mempool", "vsize_vb", scale=1e-6), "MvB (1 MB = 1,000,000 vB)"),
    "mempool_vsize_vb": Metric(TOPIC_STATS, _path("mempool", "vsize_vb"), "vB"),
    "mempool_tx_count": Metric(TOPIC_STATS, _path("mempool", "tx_count"), "transactions"),
    "vbytes_per_second": Metric(TOPIC_STATS, _path("vbytes_per_second"), "vB/s"),
    "fee_fastest": Metric(TOPIC_STATS, _path("fees", "fastest"), "sat/vB"),
    "fee_half_hour": Metric(TOPIC_STATS, _path("fees", "half_hour"), "sat/vB"),
    "fee_hour": Metric(TOPIC_STATS, _path("fees", "hour"), "sat/vB"),
    "fee_economy": Metric(TOPIC_STATS, _path("fees", "economy"), "sat/vB"),
    "fee_minimum": Metric(TOPIC_STATS, _path("fees", "minimum"), "sat/vB"),
    "next_block_median_fee": Metric(TOPIC_MEMPOOL_BLOCKS, _path("next_block_median_fee_rate"), "sat/vB"),
}
MetricName = Literal[
    "mempool_vsize_mb",
    "mempool_vsize_vb",
    "mempool_tx_count",
    "vbytes_per_second",
    "fee_fastest",
    "fee_half_hour",
    "fee_hour",
    "fee_economy",
    "fee_minimum",
    "next_block_median_fee",
]

DESCRIPTION = (
    "Wait until a mempool metric goes above or below a threshold, e.g. 'tell me when the mempool passes "
    "300 MB' (metric=mempool_vsize_mb, above=300) or 'when next-block fees drop under 2 sat/vB' "
    "(metric=next_block_median_fee, below=2). Answers at once if the condition already holds "
    "(already_true=true). Otherwise waits up to timeout_s; if it returns with triggered=false, call again "
    "with the returned cursor to keep watching. Metrics and units: "
    + "; ".join(f"{name} ({metric.unit})" for name, metric in METRICS.items())
    + "."
)

ThresholdParam = Annotated[float | None, Field(description="Trigger when the metric is strictly above this.")]
BelowParam = Annotated[float | None, Field(description="Trigger when the metric is strictly below this.")]


def register(mcp: FastMCP, gateway: Gateway) -> None:
    """Add the alert_when tool to ``mcp``."""
    settings = gateway.settings
    timeout_type = bounded_seconds(
        settings.max_timeout_s,
        f"Longest wait in seconds (default {settings.default_timeout_s:g}, at most {settings.max_timeout_s:g}).",
    )

    async def alert_when(
        metric: Annotated[MetricName, Field(description="What to watch.")],
        above: ThresholdParam = None,
        below: BelowParam = None,
        timeout_s: timeout_type = None,  # type: ignore[valid-type]
        cursor: CursorParam = None,
        network: NetworkParam = None,
        ctx: Context = CurrentContext(),
    ) -> AlertResult:
        if (above is None) == (below is None):
            raise InvalidParameter("give exactly one of 'above' or 'below'")
        watch = METRICS[metric]
        threshold = above if above is not None else below
        assert threshold is not None

        def holds(value: float) -> bool:
            return value > threshold if above is not None else value < threshold

        condition = f"{metric} {'above' if above is not None else 'below'} {threshold:g}"
        started = time.monotonic()
        seen: dict[str, Any] = {}

        def accept(event: Event) -> bool:
            value = watch.extract(event.data)
            if value is None:
                return False
            seen.update(value=value, event=event)
            return holds(value)

        async def push(event: Event, epoch: str, deadline: float) -> None:
            message = json.dumps({"cursor": f"{epoch}:{event.id}", "condition": condition, "value": seen.get("value")})
            async with asyncio.timeout_at(deadline):
                await ctx.report_progress(1, 1, message)

        request = stream_request(gateway, want=True, max_events=1, timeout_s=timeout_s, cursor=cursor, network=network)
        await admit(gateway, request.network)
        already, result_cursor = False, ""
        try:
            latest = await gateway.backend.latest(request.network, watch.topic)
            if cursor is None and latest is not None and accept(latest):
                position = await gateway.backend.position(request.network)
                already, result_cursor = True, str(Cursor(position.epoch, latest.seq))
        except BusError:
            seen.clear()  # the bus is away: wait for it like any waiting call
        if not already:
            async with gateway.stream_slot():
                collected = await collect_or_explain(gateway, request, watch.topic, on_event=push, accept=accept)
            result_cursor = str(collected.cursor)
        availability = await gateway.availability(request.network)
        if not already and not collected.events:
            count_quiet(gateway, collected, availability)
        event: Event | None = seen.get("event")
        triggered = already or (event is not None and holds(seen["value"]))
        return AlertResult(
            triggered=triggered,
            already_true=already,
            metric=metric,
            condition=condition,
            value=seen.get("value"),
            observed_at_ms=event.ts_ms if event else None,
            event_id=event.id if event else None,
            waited_s=round(time.monotonic() - started, 3),
            cursor=result_cursor,
            freshness=freshness_of(availability),
        )

    mcp.tool(
        alert_when,
        name="alert_when",
        title="Alert on a mempool threshold",
        description=DESCRIPTION,
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=False, open_world_hint=True),
    )
