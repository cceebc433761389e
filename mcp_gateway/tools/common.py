"""What every stream tool shares: parameters, registration, the pull path, the wait path, the result.

Each tool's result is built by ONE function that every transport serving the tools calls: :func:`pull`
and :func:`wait` (both through :func:`stream_result`) for the stream tools, ``address.address_result``
for ``track_address``, ``tx.tx_result`` for ``track_tx``, ``alert.watch`` for ``alert_when``,
``health.health_result`` for ``health``. Each returns a
:class:`ToolResult` made by :func:`text_result`:

* structured content, shaped as the tool's model in :mod:`mcp_gateway.models` (stream tools:
  ``{network, topic, events, cursor, gap, timed_out, freshness}``, each event ``{id, ts_ms, data}`` with
  the topic's view of its data from :mod:`mcp_gateway.views`, or with ``full=true`` the whole envelope
  as published); never a null (unknown values are left out);
* one text block: a one-line summary (what arrived, the latest figures, anything wrong, the cursor),
  a newline, then the structured content as compact JSON.

A new tool follows the same conventions: its result model in ``models.py`` (names carrying units, short
descriptions), a view and a summary phrase in ``views.py`` rounded with its helpers, registration through
:func:`register_tool` (compact schemas), refusals as :class:`~mcp_gateway.errors.InvalidParameter` in one
sentence naming the parameter and a valid example (``..., e.g. txid="..."``), and progress through
:class:`~mcp_gateway.tools.keepalive.CallProgress` so a quiet wait sends keep-alives.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar, cast

from fastmcp import Context, FastMCP
from fastmcp.tools import FunctionTool, ToolResult
from mcp_types import TextContent, ToolAnnotations
from mcp_types import Tool as MCPTool
from pydantic import BaseModel, Field

from mcp_gateway.availability import (
    TOPIC_CADENCE,
    Availability,
    bus_failure_message,
    bus_state,
    no_data_message,
)
from mcp_gateway.cursor import Cursor
from mcp_gateway.errors import BusyError, MCPUpstreamError, NetworkNotServed, NoDataYet
from mcp_gateway.gateway import Gateway
from mcp_gateway.models import output_schema
from mcp_gateway.schemas import compact
from mcp_gateway.streams import READ_GRACE_S, Collected, EventFilter, EventSink, StopWhen, collect
from mcp_gateway.tools.keepalive import CallProgress, ProgressSend
from mcp_gateway.tools.progress import direct_progress, progress_message
from mcp_gateway.views import event_item, event_phrase, topic_view
from shared.errors import BusError, CapacityError
from shared.events import Event, is_address_topic, is_tx_topic
from shared.jsoncodec import dumps_compact
from shared.metrics import topic_label
from shared.settings import GatewaySettings, Network

T = TypeVar("T")

WANT_DOC = "false: latest at once; true: wait for new ones."
FULL_DOC = "true: every field."
CURSOR_DOC = "A previous result's cursor (omit: from now)."

CursorParam = Annotated[str | None, Field(description=CURSOR_DOC, max_length=64)]
WantParam = Annotated[bool, Field(description=WANT_DOC)]
FullParam = Annotated[bool, Field(description=FULL_DOC)]
NetworkParam = Network
Topics = str | Sequence[str]
"""One topic, or several streamed as one (merged in id order, one cursor)."""


def topic_name(topic: Topics) -> str:
    """The ``topic`` of a result: the topic, or the topics joined by commas."""
    return topic if isinstance(topic, str) else ",".join(topic)


def topic_list(topic: Topics) -> list[str]:
    """``topic`` as a list of topics."""
    return [topic] if isinstance(topic, str) else list(topic)


def max_events_param(settings: GatewaySettings) -> Any:
    """The ``max_events`` parameter: 1 to the limit, default from the settings (1 for a pull)."""
    return Annotated[
        int | None,
        Field(
            ge=1,
            le=settings.max_events_limit,
            description=f"Default {settings.default_max_events} (1 with want=false).",
        ),
    ]


def timeout_param(settings: GatewaySettings) -> Any:
    """The ``timeout_s`` parameter: above 0, at most the limit (its default is the settings')."""
    return Annotated[float, Field(gt=0, le=settings.max_timeout_s)]


class AgentTool(FunctionTool):
    """A function tool whose listing carries no empty FastMCP metadata (``_meta.fastmcp.tags: []``)."""

    def get_meta(self) -> dict[str, Any]:
        """The tool's metadata, without FastMCP's when it says nothing."""
        meta = super().get_meta()
        if meta.get("fastmcp") == {"tags": []}:
            del meta["fastmcp"]
        return meta

    def to_mcp_tool(self, **overrides: Any) -> MCPTool:
        """The listing, with no ``_meta`` at all when there is none."""
        listed = super().to_mcp_tool(**overrides)
        if not listed.meta:
            listed.meta = None
        return listed


def listed_parameters(schema: dict[str, Any], networks: Sequence[str]) -> dict[str, Any]:
    """A tool's input schema as listed: compact, its ``network`` offering only the ``networks`` served.

    Validation still takes every known network, so an unserved one gets the error naming those served.
    """
    parameters = compact(schema)
    network = parameters.get("properties", {}).get("network")
    if network is not None:
        network["enum"] = list(networks)
    return parameters


def register_tool(
    mcp: FastMCP,
    fn: Callable[..., Any],
    *,
    name: str,
    title: str,
    description: str,
    result: type[BaseModel],
    annotations: ToolAnnotations,
    networks: Sequence[str],
) -> AgentTool:
    """Add ``fn`` as tool ``name`` with compact input and output schemas (the result model's).

    The ``network`` parameter lists the ``networks`` this deployment serves (the default first), so an
    agent is never offered one that would be refused.
    """
    tool = AgentTool.from_function(  # a classmethod: it builds an AgentTool
        fn,
        name=name,
        title=title,
        description=description,
        output_schema=output_schema(result),
        annotations=annotations,
    )
    tool = tool.model_copy(update={"parameters": listed_parameters(tool.parameters, networks)})
    mcp.add_tool(tool)
    return cast(AgentTool, tool)


def text_result(summary: str, structured: dict[str, Any]) -> ToolResult:
    """A tool result: ``summary`` (one line), then ``structured`` as compact JSON; both as structured content."""
    return ToolResult(
        content=[TextContent(type="text", text=f"{summary}\n{dumps_compact(structured)}")],
        structured_content=structured,
    )


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """Validated, defaulted parameters of one stream call."""

    network: str
    want: bool
    max_events: int
    timeout_s: float
    cursor: Cursor | None
    full: bool = False
    started: float = field(default_factory=time.monotonic)
    """When the call began (``time.monotonic()``): ``timeout_s`` covers everything the call does."""

    @property
    def deadline(self) -> float:
        """When the call must end (``time.monotonic()``), checks before the wait included."""
        return self.started + self.timeout_s

    def remaining_s(self) -> float:
        """Seconds left until :attr:`deadline` (0 once it passed)."""
        return max(0.0, self.deadline - time.monotonic())


async def within_deadline(request: StreamRequest, read: Awaitable[T], fallback: T) -> T:
    """``read``, or ``fallback`` when the bus cannot answer before the call's deadline (plus a short grace) or
    fails: what a call reads around its wait is best effort, and a slow Redis must not hold its answer."""
    try:
        async with asyncio.timeout(request.remaining_s() + READ_GRACE_S):
            return await read
    except (TimeoutError, BusError):
        return fallback


def stream_request(
    gateway: Gateway,
    *,
    want: bool,
    max_events: int | None,
    timeout_s: float | None,
    cursor: str | None,
    network: str | None,
    full: bool = False,
) -> StreamRequest:
    """Fill the defaults of the settings into a call's parameters."""
    settings = gateway.settings
    return StreamRequest(
        network=network or settings.network,
        want=want,
        max_events=max_events if max_events is not None else (settings.default_max_events if want else 1),
        timeout_s=timeout_s if timeout_s is not None else settings.default_timeout_s,
        cursor=Cursor.parse(cursor) if cursor else None,
        full=full,
    )


async def admit(gateway: Gateway, network: str) -> Availability:
    """The availability of ``network``; refuse at once (only) a network this deployment does not serve."""
    availability = await gateway.availability(network)
    refusal = availability.refusal()
    if refusal is not None:
        raise NetworkNotServed(refusal)
    return availability


@contextlib.contextmanager
def bus_errors() -> Iterator[None]:
    """Translate bus and capacity errors into tool errors an agent can act on."""
    try:
        yield
    except CapacityError as exc:
        raise BusyError(str(exc)) from None
    except BusError as exc:
        state = bus_state(exc)
        raise MCPUpstreamError(bus_failure_message(state), refusal=f"bus_{state}") from None


def freshness_of(availability: Availability) -> dict[str, Any]:
    """The freshness part of a result (``Freshness`` in :mod:`mcp_gateway.models`)."""
    return {"status": availability.status, "reasons": list(availability.reasons)}


def freshness_phrase(freshness: dict[str, Any]) -> str | None:
    """What the summary line says about freshness: nothing when all is well."""
    if freshness["status"] == "ok":
        return None
    reasons = freshness["reasons"]
    return f"service {freshness['status']}: {reasons[0] if reasons else 'see health'}"


ProgressSource = Context | CallProgress
"""Where a waiting call's progress goes: the FastMCP context of the call, or a channel made for it (the
fast path's, :mod:`mcp_gateway.fastpath`)."""


def progress_of(gateway: Gateway, source: ProgressSource) -> CallProgress:
    """The progress channel of a call from its :data:`ProgressSource`."""
    return source if isinstance(source, CallProgress) else call_progress(gateway, source)


def call_progress(gateway: Gateway, ctx: Context) -> CallProgress:
    """The progress channel of a call: straight onto its HTTP stream when possible, else through the SDK."""
    direct = direct_progress(ctx)
    if direct is not None:
        return CallProgress(direct, gateway.settings.keepalive_interval_s)

    async def send(progress: int, message: str, deadline: float) -> None:
        async with asyncio.timeout_at(deadline):
            await ctx.report_progress(progress, None, message)

    sender: ProgressSend = send
    return CallProgress(sender, gateway.settings.keepalive_interval_s)


def progress_pusher(gateway: Gateway, progress: CallProgress, topic: Topics) -> EventSink:
    """A sink that pushes each event to the caller as a progress notification.

    Its message is the event envelope JSON with the full resumable cursor first (``progress_message``).
    """
    delivered = gateway.metrics.events_delivered.labels(topic_label(topic_list(topic)[0]))
    lag = gateway.metrics.delivery_lag

    async def push(event: Event, epoch: str, deadline: float) -> None:
        lag.observe(max(0.0, time.time() - event.ts_ms / 1000))
        delivered.inc()
        await progress.send(progress_message(epoch, event.id, event.raw), deadline)

    return push


def stream_summary(
    request: StreamRequest, topic: Topics, items: list[dict[str, Any]], structured: dict[str, Any]
) -> str:
    """The one-line summary of a stream result: what arrived, the latest figures, trouble, the cursor."""
    topics = topic_list(topic)
    topic = topics[0]
    view = topic_view(topic)
    about = ""
    if is_address_topic(topic):
        about = f" for {topic.partition(':')[2]}" if len(topics) == 1 else f" for {len(topics)} addresses"
    if items and not request.want:
        count = f"{len(items)} latest{about}, newest" if len(items) > 1 else f"latest{about}"
        head = f"{count}: {event_phrase(topic, items[-1])}"
    elif items:
        head = f"{view.counted(len(items))}{about}; latest: {event_phrase(topic, items[-1])}"
    elif not request.want and is_tx_topic(topic):
        head = "no status yet"
    elif not request.want:
        head = f"no recent events{about} (only addresses watched lately have any)"
    else:
        cadence = TOPIC_CADENCE.get(topic)
        head = f"no {view.plural}{about} in {request.timeout_s:g} s" + (
            f" (the upstream sends one {cadence})" if cadence else ""
        )
    parts = [head]
    if structured["gap"]:
        parts.append("events before these were missed (gap)")
    if (trouble := freshness_phrase(structured["freshness"])) is not None:
        parts.append(trouble)
    parts.append(f"cursor {structured['cursor']}")
    return "; ".join(parts)


def stream_content(
    request: StreamRequest,
    topic: Topics,
    events: list[Event],
    *,
    cursor: Cursor,
    gap: bool,
    timed_out: bool,
    availability: Availability,
) -> dict[str, Any]:
    """The structured content of a stream result (``StreamResult`` in :mod:`mcp_gateway.models`)."""
    return {
        "network": request.network,
        "topic": topic_name(topic),
        "events": [event_item(event, full=request.full) for event in events],
        "cursor": str(cursor),
        "gap": gap,
        "timed_out": timed_out,
        "freshness": freshness_of(availability),
    }


def stream_result(
    request: StreamRequest,
    topic: Topics,
    events: list[Event],
    *,
    cursor: Cursor,
    gap: bool,
    timed_out: bool,
    availability: Availability,
) -> ToolResult:
    """THE result of a stream call (pull or wait, any transport): structured content and its summary."""
    structured = stream_content(
        request, topic, events, cursor=cursor, gap=gap, timed_out=timed_out, availability=availability
    )
    return text_result(stream_summary(request, topic, structured["events"], structured), structured)


async def pull(
    gateway: Gateway,
    request: StreamRequest,
    topic: Topics,
    *,
    none_is_an_answer: bool = False,
) -> ToolResult:
    """The latest events of ``topic`` (of several: the newest of all, in id order) at once (``want=false``).

    Without any event, a topic pull says why and when to call again (``NoDataYet``); with
    ``none_is_an_answer`` (an address nobody paid), the empty result is the answer.
    """
    availability = await admit(gateway, request.network)
    backend, network = gateway.backend, request.network
    with bus_errors():
        recents = await asyncio.gather(*(backend.recent(network, t, request.max_events) for t in topic_list(topic)))
        position = await backend.position(network)
    events = sorted((event for recent in recents for event in recent), key=lambda event: event.seq)
    events = events[-request.max_events :]
    if not events and not none_is_an_answer:
        raise NoDataYet(no_data_message(availability, topic_name(topic)))
    last = events[-1].seq if events else position.last_id
    return stream_result(
        request,
        topic,
        events,
        cursor=Cursor(position.epoch, last),
        gap=False,
        timed_out=False,
        availability=availability,
    )


async def wait(
    gateway: Gateway,
    ctx: ProgressSource,
    request: StreamRequest,
    topic: Topics,
    accept: EventFilter | None = None,
) -> ToolResult:
    """Wait for new events of ``topic`` (or of several topics as one stream, ``want=true``), pushing each
    one as it arrives.

    Admitted in every transient state (no ingestor yet, Redis just back or still away, stale data); the
    result's ``freshness`` says why it was quiet. While quiet, the call sends keep-alive progress.
    """
    collected, availability = await collect_waiting(gateway, ctx, request, topic, accept=accept)
    return stream_result(
        request,
        topic,
        collected.events,
        cursor=collected.cursor,
        gap=collected.gap,
        timed_out=collected.timed_out,
        availability=availability,
    )


async def collect_waiting(
    gateway: Gateway,
    ctx: ProgressSource,
    request: StreamRequest,
    topic: Topics,
    *,
    accept: EventFilter | None = None,
    stop_when: StopWhen | None = None,
    with_current: bool = False,
) -> tuple[Collected, Availability]:
    """What :func:`wait` gathers (pushing each event, keeping the call alive while quiet), and the
    availability to report with it; ``stop_when`` and ``with_current`` as in :func:`collect`."""
    await admit(gateway, request.network)
    progress = progress_of(gateway, ctx)
    async with gateway.stream_slot(), progress.keeping_alive(request.deadline):
        collected = await collect_or_explain(
            gateway,
            request,
            topic,
            on_event=progress_pusher(gateway, progress, topic),
            accept=accept,
            stop_when=stop_when,
            with_current=with_current,
        )
    availability = await gateway.availability(request.network)
    count_quiet(gateway, collected, availability)
    return collected, availability


async def collect_or_explain(
    gateway: Gateway,
    request: StreamRequest,
    topic: Topics,
    *,
    on_event: EventSink,
    accept: EventFilter | None = None,
    max_events: int | None = None,
    stop_when: StopWhen | None = None,
    with_current: bool = False,
) -> Collected:
    """:func:`collect` for a call; a bus that never answered during the whole wait becomes a tool error."""
    try:
        return await collect(
            gateway,
            request.network,
            topic,
            cursor=request.cursor,
            max_events=max_events or request.max_events,
            timeout_s=request.remaining_s(),
            on_event=on_event,
            accept=accept,
            stop_when=stop_when,
            with_current=with_current,
        )
    except BusError as exc:
        state = bus_state(exc)
        gateway.metrics.quiet_waits.labels(f"bus_{state}").inc()
        raise MCPUpstreamError(
            f"no events, because the event bus (Redis) could not be read during this whole call "
            f"({request.timeout_s:g} s, {state.replace('_', ' ')}); call health to follow the outage, and call again"
        ) from None


def count_quiet(gateway: Gateway, collected: Collected, availability: Availability) -> None:
    """Count a wait that ended without an event, by the first reason the gateway knew of."""
    if not collected.events:
        reason = f"bus_{collected.bus_trouble}" if collected.bus_trouble else availability.quiet_reason
        gateway.metrics.quiet_waits.labels(reason).inc()
