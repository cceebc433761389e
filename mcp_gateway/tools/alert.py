"""The alert_when tool: wait until a mempool metric crosses a threshold (or answer at once if it has)."""

# Annotations are evaluated at definition time on purpose: parameter bounds come from the settings.

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastmcp import Context, FastMCP
from fastmcp.dependencies import CurrentContext
from fastmcp.tools import ToolResult
from mcp_types import ToolAnnotations
from pydantic import Field

from mcp_gateway.availability import no_data_message
from mcp_gateway.cursor import Cursor
from mcp_gateway.errors import InvalidParameter, NoDataYet
from mcp_gateway.gateway import Gateway
from mcp_gateway.models import AlertResult
from mcp_gateway.tools.common import (
    CursorParam,
    NetworkParam,
    StreamRequest,
    admit,
    call_progress,
    collect_or_explain,
    count_quiet,
    freshness_of,
    freshness_phrase,
    register_tool,
    stream_request,
    text_result,
    timeout_param,
)
from mcp_gateway.views import fee_rate, mb, number_text, seconds, vbytes, without_nulls
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
    """A watchable metric: where it comes from, its unit and how its values are rounded."""

    topic: str
    extract: Extractor
    unit: str
    rounded: Callable[[float], float]


METRICS: dict[str, Metric] = {
    "mempool_vsize_mb": Metric(TOPIC_STATS, _path("mempool", "vsize_vb", scale=1e-6), "MB", mb),
    "mempool_vsize_vb": Metric(TOPIC_STATS, _path("mempool", "vsize_vb"), "vB", vbytes),
    "mempool_tx_count": Metric(TOPIC_STATS, _path("mempool", "tx_count"), "tx", round),
    "vbytes_per_second": Metric(TOPIC_STATS, _path("vbytes_per_second"), "vB/s", vbytes),
    "fee_fastest": Metric(TOPIC_STATS, _path("fees", "fastest"), "sat/vB", fee_rate),
    "fee_half_hour": Metric(TOPIC_STATS, _path("fees", "half_hour"), "sat/vB", fee_rate),
    "fee_hour": Metric(TOPIC_STATS, _path("fees", "hour"), "sat/vB", fee_rate),
    "fee_economy": Metric(TOPIC_STATS, _path("fees", "economy"), "sat/vB", fee_rate),
    "fee_minimum": Metric(TOPIC_STATS, _path("fees", "minimum"), "sat/vB", fee_rate),
    "next_block_median_fee": Metric(TOPIC_MEMPOOL_BLOCKS, _path("next_block_median_fee_rate"), "sat/vB", fee_rate),
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
    "Wait until a metric crosses a threshold ('alert me when the mempool passes 300 MB': "
    "metric=mempool_vsize_mb, above=300). Answers at once if it already holds; want=false only checks. "
    "Still triggered=false after timeout_s: call again with the cursor. Units: *_mb MB of vsize, *_vb vB, "
    "vbytes_per_second vB/s, fee_* and next_block_median_fee sat/vB."
)

ThresholdParam = Annotated[float | None, Field(description="Trigger above this.")]
BelowParam = Annotated[float | None, Field(description="Trigger below this.")]
AlertWantParam = Annotated[bool, Field(description="false: only check now; true: wait for it.")]
THRESHOLD_EXAMPLE = "e.g. above=300 with metric=mempool_vsize_mb"


@dataclass(frozen=True, slots=True)
class Condition:
    """What an alert_when call watches for."""

    metric: str
    watch: Metric
    above: bool
    threshold: float

    def holds(self, value: float) -> bool:
        """Whether ``value`` meets the condition (strictly above or below)."""
        return value > self.threshold if self.above else value < self.threshold

    def __str__(self) -> str:
        return f"{self.metric} {'above' if self.above else 'below'} {number_text(self.threshold, grouped=False)}"


def condition_of(metric: str, above: float | None, below: float | None) -> Condition:
    """The condition of a call, or :class:`InvalidParameter` when it gives not exactly one threshold."""
    if (above is None) == (below is None):
        raise InvalidParameter(
            f"give exactly one of above or below (a number in the metric's unit), {THRESHOLD_EXAMPLE}"
        )
    threshold = above if above is not None else below
    assert threshold is not None
    return Condition(metric, METRICS[metric], above is not None, threshold)


def alert_summary(body: dict[str, Any], condition: Condition, *, want: bool) -> str:
    """The one-line summary of an alert_when result."""
    value = body.get("value")
    now = f"{number_text(value)} {condition.watch.unit}" if value is not None else "not seen yet"
    if body["already_true"]:
        head = f"already true: {condition} (now {now})"
    elif body["triggered"]:
        head = f"triggered: {condition} (now {now}) after {body['waited_s']:g} s"
    elif not want:
        head = f"not true now: {condition} (now {now})"
    else:
        head = f"not yet: {condition} (now {now}) after {body['waited_s']:g} s; call again with the cursor"
    parts = [head]
    if (trouble := freshness_phrase(body["freshness"])) is not None:
        parts.append(trouble)
    parts.append(f"cursor {body['cursor']}")
    return "; ".join(parts)


def register(mcp: FastMCP, gateway: Gateway) -> None:
    """Add the alert_when tool to ``mcp``."""
    settings = gateway.settings
    timeout_type = timeout_param(settings)

    async def alert_when(
        metric: MetricName,
        above: ThresholdParam = None,
        below: BelowParam = None,
        want: AlertWantParam = True,
        timeout_s: timeout_type = settings.default_timeout_s,  # type: ignore[valid-type]
        cursor: CursorParam = None,
        network: NetworkParam = settings.network,
        ctx: Context = CurrentContext(),
    ) -> ToolResult:
        condition = condition_of(metric, above, below)
        request = stream_request(gateway, want=True, max_events=1, timeout_s=timeout_s, cursor=cursor, network=network)
        return await watch(gateway, ctx, condition, request, want=want)

    register_tool(
        mcp,
        alert_when,
        name="alert_when",
        title="Alert on a mempool threshold",
        description=DESCRIPTION,
        result=AlertResult,
        annotations=ToolAnnotations(read_only_hint=True),
        networks=gateway.settings.served_networks,
    )


async def watch(
    gateway: Gateway, ctx: Context, condition: Condition, request: StreamRequest, *, want: bool
) -> ToolResult:
    """THE result of an alert_when call: check the latest value, then (``want``) wait for the condition."""
    started = time.monotonic()
    seen: dict[str, Any] = {}

    def accept(event: Event) -> bool:
        value = condition.watch.extract(event.data)
        if value is None:
            return False
        seen.update(value=value, event=event)
        return condition.holds(value)

    availability = await admit(gateway, request.network)
    already, result_cursor = False, ""
    latest: Event | None = None
    try:
        latest = await gateway.backend.latest(request.network, condition.watch.topic)
        if (request.cursor is None or not want) and latest is not None and accept(latest):
            already = True
        if already or not want:
            position = await gateway.backend.position(request.network)
            result_cursor = str(Cursor(position.epoch, latest.seq if latest is not None else position.last_id))
    except BusError:
        seen.clear()  # the bus is away: wait for it like any waiting call
        if not want:
            raise
    if not want and latest is None:
        raise NoDataYet(no_data_message(availability, condition.watch.topic))
    if not already and want:
        progress = call_progress(gateway, ctx)

        async def push(event: Event, epoch: str, deadline: float) -> None:
            value = seen.get("value")
            shown = condition.watch.rounded(value) if value is not None else None
            message = {"cursor": f"{epoch}:{event.id}", "condition": str(condition), "value": shown}
            await progress.send(json.dumps(message, separators=(",", ":")), deadline)

        async with gateway.stream_slot(), progress.keeping_alive(started + request.timeout_s):
            collected = await collect_or_explain(gateway, request, condition.watch.topic, on_event=push, accept=accept)
        result_cursor = str(collected.cursor)
        availability = await gateway.availability(request.network)
        if not collected.events:
            count_quiet(gateway, collected, availability)
    event: Event | None = seen.get("event")
    value = seen.get("value")
    body = {  # AlertResult in mcp_gateway.models
        "triggered": already or (event is not None and value is not None and condition.holds(value)),
        "already_true": already,
        "metric": condition.metric,
        "condition": str(condition),
        "value": condition.watch.rounded(value) if value is not None else None,
        "observed_at_ms": event.ts_ms if event else None,
        "event_id": event.id if event else None,
        "waited_s": seconds(time.monotonic() - started),
        "cursor": result_cursor,
        "freshness": freshness_of(availability),
    }
    body = without_nulls(body)  # an unknown value is left out
    return text_result(alert_summary(body, condition, want=want), body)
