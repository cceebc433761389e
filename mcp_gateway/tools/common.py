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

from mcp_gateway.cursor import Cursor
from mcp_gateway.errors import BusyError, MCPUpstreamError
from mcp_gateway.gateway import Gateway, UpstreamState
from mcp_gateway.models import EnvelopeT, Freshness, StreamResult
from mcp_gateway.streams import EventFilter, collect
from mcp_gateway.tools.progress import direct_progress
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


@contextlib.contextmanager
def bus_errors() -> Iterator[None]:
    """Translate bus and capacity errors into tool errors an agent can act on."""
    try:
        yield
    except CapacityError as exc:
        raise BusyError(str(exc)) from None
    except BusError:
        raise MCPUpstreamError(
            "the event bus is unreachable right now; retry in a few seconds (call health for details)"
        ) from None


def freshness_of(state: UpstreamState) -> Freshness:
    """The freshness part of a result."""
    age = round(state.last_frame_age_s, 3) if state.last_frame_age_s is not None else None
    return Freshness(
        status=state.status,  # type: ignore[arg-type]
        reasons=list(state.reasons),
        upstream_connected=state.upstream_connected,
        last_upstream_frame_age_s=age,
    )


def progress_pusher(gateway: Gateway, ctx: Context, topic: str) -> Any:
    """A sink that pushes each event to the caller as a progress notification (message = event JSON)."""
    counter = itertools.count(1)
    delivered = gateway.metrics.events_delivered.labels(topic_label(topic))
    lag = gateway.metrics.delivery_lag
    direct = direct_progress(ctx)

    async def push(event: Event, deadline: float) -> None:
        lag.observe(max(0.0, time.time() - event.ts_ms / 1000))
        delivered.inc()
        if direct is not None:
            await direct(next(counter), event.raw, deadline)
        else:
            async with asyncio.timeout_at(deadline):
                await ctx.report_progress(next(counter), None, event.raw)

    return push


async def pull(gateway: Gateway, request: StreamRequest, topic: str, model: type[EnvelopeT]) -> StreamResult[EnvelopeT]:
    """The latest events of ``topic`` at once (``want=false``)."""
    with bus_errors():
        state = await gateway.require_fresh(request.network)
        events = await gateway.backend.recent(request.network, topic, request.max_events)
        position = await gateway.backend.position(request.network)
    last = events[-1].seq if events else position.last_id
    return StreamResult[model](  # type: ignore[valid-type]
        network=request.network,
        topic=topic,
        events=[model.model_validate(event.to_dict()) for event in events],
        cursor=str(Cursor(position.epoch, last)),
        gap=False,
        timed_out=False,
        freshness=freshness_of(state),
    )


async def wait(
    gateway: Gateway,
    ctx: Context,
    request: StreamRequest,
    topic: str,
    model: type[EnvelopeT],
    accept: EventFilter | None = None,
) -> StreamResult[EnvelopeT]:
    """Wait for new events of ``topic`` (``want=true``), pushing each one as it arrives."""
    with bus_errors():
        await gateway.require_fresh(request.network)
        async with gateway.stream_slot():
            collected = await collect(
                gateway,
                request.network,
                topic,
                cursor=request.cursor,
                max_events=request.max_events,
                timeout_s=request.timeout_s,
                on_event=progress_pusher(gateway, ctx, topic),
                accept=accept,
            )
    state = await gateway.upstream_state(request.network)
    return StreamResult[model](  # type: ignore[valid-type]
        network=request.network,
        topic=topic,
        events=[model.model_validate(event.to_dict()) for event in collected.events],
        cursor=str(collected.cursor),
        gap=collected.gap,
        timed_out=collected.timed_out,
        freshness=freshness_of(state),
    )


def bounded_int(limit: int, description: str) -> Any:
    """An optional integer parameter between 1 and ``limit``."""
    return Annotated[int | None, Field(ge=1, le=limit, description=description)]


def bounded_seconds(limit: float, description: str) -> Any:
    """An optional duration parameter above 0 and at most ``limit`` seconds."""
    return Annotated[float | None, Field(gt=0, le=limit, description=description)]
