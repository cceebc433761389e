"""The heart of every stream tool: collect a topic's events after a cursor, then live, without loss.

Order of operations (so nothing falls between history and live):

1. subscribe to the topic's channel (through the process-wide hub);
2. find the starting point: the caller's cursor, or the network's current position;
3. catch up from history after that point (reporting ``gap`` if the window no longer reaches it);
4. take live events, skipping any already delivered (ids only grow), until ``max_events`` or the deadline;
   when the hub says live delivery may have lost events, catch up from history again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from mcp_gateway.cursor import Cursor
from mcp_gateway.gateway import Gateway
from shared.bus import HistoryPage, Resync, Subscriber
from shared.events import Event

EventSink = Callable[[Event, float], Awaitable[None]]
"""Pushes an event to the caller; returns by the deadline (``time.monotonic()``) or raises TimeoutError."""
EventFilter = Callable[[Event], bool]
HISTORY_PAGE = 200


@dataclass(slots=True)
class Collected:
    """What a stream call gathered."""

    events: list[Event] = field(default_factory=list)
    cursor: Cursor = field(default_factory=lambda: Cursor(None, 0))
    gap: bool = False
    timed_out: bool = False


class _Collector:
    def __init__(
        self,
        gateway: Gateway,
        network: str,
        topic: str,
        max_events: int,
        on_event: EventSink,
        accept: EventFilter | None,
        deadline: float,
    ) -> None:
        self.gateway, self.network, self.topic = gateway, network, topic
        self.max_events = max_events
        self.on_event = on_event
        self.deadline = deadline
        self.accept = accept
        self.result = Collected()

    @property
    def full(self) -> bool:
        return len(self.result.events) >= self.max_events

    async def start(self, cursor: Cursor | None) -> None:
        if cursor is None:
            position = await self.gateway.backend.position(self.network)
            self.result.cursor = Cursor(position.epoch, position.last_id)
            return
        page = await self._page(cursor.last_id)
        epoch = page.position.epoch
        if cursor.epoch is not None and cursor.epoch != epoch:
            self.result.gap = True
            self.result.cursor = Cursor(epoch, page.position.last_id)
            return
        self.result.cursor = Cursor(epoch, cursor.last_id)
        if await self._consume(page):
            await self.catch_up()

    async def catch_up(self) -> None:
        while not self.full:
            page = await self._page(self.result.cursor.last_id)
            if page.position.epoch != self.result.cursor.epoch:
                self.result.gap = True
                self.result.cursor = Cursor(page.position.epoch, 0)
                continue
            if not await self._consume(page):
                return

    async def _page(self, after: int) -> HistoryPage:
        return await self.gateway.backend.history(self.network, self.topic, after=after, limit=HISTORY_PAGE)

    async def _consume(self, page: HistoryPage) -> bool:
        self.result.gap |= page.gap
        for event in page.events:
            await self.take(event)
            if self.full:
                return False
        return page.has_more

    async def take(self, event: Event) -> None:
        cursor = self.result.cursor
        if event.seq <= cursor.last_id:
            return
        self.result.cursor = Cursor(cursor.epoch, event.seq)
        if self.accept is not None and not self.accept(event):
            return
        self.result.events.append(event)
        try:
            await self.on_event(event, self.deadline)
        except TimeoutError:
            self.result.timed_out = True  # the caller stopped reading: keep the event for the result

    async def follow(self, subscriber: Subscriber, deadline: float) -> None:
        while not self.full and not self.gateway.shutting_down.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.result.timed_out = True
                return
            message = await subscriber.get(remaining)
            if message is None:
                if time.monotonic() >= deadline:
                    self.result.timed_out = True
                return
            if isinstance(message, Resync):
                await self.catch_up()
            else:
                await self.take(message)


async def collect(
    gateway: Gateway,
    network: str,
    topic: str,
    *,
    cursor: Cursor | None,
    max_events: int,
    timeout_s: float,
    on_event: EventSink,
    accept: EventFilter | None = None,
) -> Collected:
    """Gather up to ``max_events`` events of ``topic`` after ``cursor`` (or from now), within ``timeout_s``.

    ``on_event`` runs for each event as soon as it is taken (to push it to the caller). With ``accept``,
    events it rejects advance the cursor but are neither returned nor pushed.
    """
    deadline = time.monotonic() + timeout_s
    collector = _Collector(gateway, network, topic, max_events, on_event, accept, deadline)
    channel = gateway.names(network).channel(topic)
    async with gateway.hub.subscribe(channel) as subscriber:
        await collector.start(cursor)
        if not collector.full:
            await collector.follow(subscriber, deadline)
    return collector.result
