"""What every stream tool shares: parameters, the pull path, the wait path, and error translation."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastmcp import Context
from pydantic import Field

from mcp_gateway.availability import Availability, bus_failure_message, bus_state, no_data_message
from mcp_gateway.cursor import Cursor
from mcp_gateway.errors import BusyError, MCPUpstreamError, NetworkNotServed, NoDataYet
from mcp_gateway.gateway import Gateway
from mcp_gateway.models import EnvelopeT, Freshness, StreamResult
from mcp_gateway.streams import Collected, EventFilter, EventSink, collect
from mcp_gateway.tools.progress import direct_progress, progress_message
from shared.errors import BusError, CapacityError
from shared.events import Event
from shared.metrics import topic_label
from shared.settings import Network

WANT_DOC = (
    "false: return the latest snapshot at once, without waiting; true (default): wait for new events and "
    "return when max_events arrived or timeout_s passed."
)
CURSOR_DOC = (
    "The 'cursor' of a previous result: resume right after the last event you saw, on any gateway "
    "replica, without loss while inside the history window. Omit to start with events from now on."
)
NETWORK_DOC = "Bitcoin network: mainnet, testnet, testnet4 or signet (default: the gateway's network)."

NetworkParam = Annotated[Network | None, Field(description=NETWORK_DOC)]
CursorParam = Annotated[str | None, Field(description=CURSOR_DOC, max_length=64)]
WantParam = Annotated[bool, Field(description=WANT_DOC)]


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """Validated, defaulted parameters of one stream call."""

    network: str
    want: bool
    max_events: int
    timeout_s: float
    cursor: Cursor | None


def stream_request(
    gateway: Gateway,
    *,
    want: bool,
    max_events: int | None,
    timeout_s: float | None,
    cursor: str | None,
    network: str | None,
) -> StreamRequest:
    """Fill the defaults of the settings into a call's parameters."""
    settings = gateway.settings
    return StreamRequest(
        network=network or settings.network,
        want=want,
        max_events=max_events if max_events is not None else (settings.default_max_events if want else 1),
        timeout_s=timeout_s if timeout_s is not None else settings.default_timeout_s,
        cursor=Cursor.parse(cursor) if cursor else None,
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


def freshness_of(availability: Availability) -> Freshness:
    """The freshness part of a result."""
    age = availability.last_frame_age_s
    return Freshness(
        status=availability.status,
        reasons=list(availability.reasons),
        upstream_connected=availability.upstream_connected,
        last_upstream_frame_age_s=round(age, 3) if age is not None else None,
    )


def progress_pusher(gateway: Gateway, ctx: Context, topic: str) -> EventSink:
    """A sink that pushes each event to the caller as a progress notification.

    Its message is the event envelope JSON with the full resumable cursor first (``progress_message``).
    """
    counter = itertools.count(1)
    delivered = gateway.metrics.events_delivered.labels(topic_label(topic))
    lag = gateway.metrics.delivery_lag
    direct = direct_progress(ctx)

    async def push(event: Event, epoch: str, deadline: float) -> None:
        lag.observe(max(0.0, time.time() - event.ts_ms / 1000))
        delivered.inc()
        message = progress_message(epoch, event.id, event.raw)
        if direct is not None:
            await direct(next(counter), message, deadline)
        else:
            async with asyncio.timeout_at(deadline):
                await ctx.report_progress(next(counter), None, message)

    return push


async def pull(
    gateway: Gateway,
    request: StreamRequest,
    topic: str,
    model: type[EnvelopeT],
    *,
    none_is_an_answer: bool = False,
) -> StreamResult[EnvelopeT]:
    """The latest events of ``topic`` at once (``want=false``).

    Without any event, a topic pull says why and when to call again (``NoDataYet``); with
    ``none_is_an_answer`` (an address nobody paid), the empty result is the answer.
    """
    availability = await admit(gateway, request.network)
    with bus_errors():
        events = await gateway.backend.recent(request.network, topic, request.max_events)
        position = await gateway.backend.position(request.network)
    if not events and not none_is_an_answer:
        raise NoDataYet(no_data_message(availability, topic))
    last = events[-1].seq if events else position.last_id
    return StreamResult[model](  # type: ignore[valid-type]
        network=request.network,
        topic=topic,
        events=[model.model_validate(event.to_dict()) for event in events],
        cursor=str(Cursor(position.epoch, last)),
        gap=False,
        timed_out=False,
        freshness=freshness_of(availability),
    )


async def wait(
    gateway: Gateway,
    ctx: Context,
    request: StreamRequest,
    topic: str,
    model: type[EnvelopeT],
    accept: EventFilter | None = None,
) -> StreamResult[EnvelopeT]:
    """Wait for new events of ``topic`` (``want=true``), pushing each one as it arrives.

    Admitted in every transient state (no ingestor yet, Redis just back or still away, stale data); the
    result's ``freshness`` says why it was quiet.
    """
    await admit(gateway, request.network)
    async with gateway.stream_slot():
        collected = await collect_or_explain(
            gateway,
            request,
            topic,
            on_event=progress_pusher(gateway, ctx, topic),
            accept=accept,
        )
    availability = await gateway.availability(request.network)
    count_quiet(gateway, collected, availability)
    return StreamResult[model](  # type: ignore[valid-type]
        network=request.network,
        topic=topic,
        events=[model.model_validate(event.to_dict()) for event in collected.events],
        cursor=str(collected.cursor),
        gap=collected.gap,
        timed_out=collected.timed_out,
        freshness=freshness_of(availability),
    )


async def collect_or_explain(
    gateway: Gateway,
    request: StreamRequest,
    topic: str,
    *,
    on_event: EventSink,
    accept: EventFilter | None = None,
    max_events: int | None = None,
) -> Collected:
    """:func:`collect` for a call; a bus that never answered during the whole wait becomes a tool error."""
    try:
        return await collect(
            gateway,
            request.network,
            topic,
            cursor=request.cursor,
            max_events=max_events or request.max_events,
            timeout_s=request.timeout_s,
            on_event=on_event,
            accept=accept,
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


def bounded_int(limit: int, description: str) -> Any:
    """An optional integer parameter between 1 and ``limit``."""
    return Annotated[int | None, Field(ge=1, le=limit, description=description)]


def bounded_seconds(limit: float, description: str) -> Any:
    """An optional duration parameter above 0 and at most ``limit`` seconds."""
    return Annotated[float | None, Field(gt=0, le=limit, description=description)]
