"""The heart of every stream tool: collect a topic's events after a cursor, then live, without loss.

Several topics can be collected as one stream (a wallet's addresses, a few transactions): event ids grow
across all topics of a network, so one cursor resumes all of them, and their events are merged in id
order.

Order of operations (so nothing falls between history and live):

1. subscribe to the topics' channels (through the process-wide hub);
2. find the starting point: the caller's cursor, or the network's current position;
3. catch up from history after that point (reporting ``gap`` if the window no longer reaches it);
4. take live events, skipping any already delivered (ids only grow), until ``max_events`` or the deadline;
   when the hub says live delivery may have lost events, catch up from history again.

What ended the wait decides ``timed_out`` (the deadline: true; ``max_events`` or a shutdown: false), once.
A cursor ahead of the newest event of its epoch means "from now"; ``gap`` is true only when events may
really have been missed (the history window moved past the cursor, or the epoch changed). A bus error
is transient: the call retries until its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from mcp_gateway.availability import BusState, bus_state
from mcp_gateway.cursor import Cursor
from mcp_gateway.gateway import Gateway
from shared.bus import HistoryPage, Resync, Subscriber
from shared.errors import BusError, BusUnavailable
from shared.events import Event
from shared.retry import retrying

EventSink = Callable[[Event, str, float], Awaitable[None]]
"""Pushes an event (and its epoch) to the caller; returns by the deadline (``time.monotonic()``) or raises
TimeoutError."""
EventFilter = Callable[[Event], bool]
StopWhen = Callable[[Event], bool]
"""Ends the wait once an event it is true for was taken (that event included)."""
HISTORY_PAGE = 200
CURRENT_EVENTS = 4
"""Newest events read per topic for its current state."""
BUS_RETRY_FIRST_S, BUS_RETRY_MAX_S = 0.05, 0.5
READ_GRACE_S = 1.0
"""How long past the call's deadline a bus read that already started may take (a hung Redis)."""
"""Pauses between two tries of a call that waits for the bus to answer again (seconds)."""
_RETRIES = logging.getLogger(f"{__name__}.retries")
_RETRIES.setLevel(logging.ERROR)  # not one line per waiting call and retry: the bus logs an outage once


@dataclass(slots=True)
class Collected:
    """What a stream call gathered."""

    events: list[Event] = field(default_factory=list)
    cursor: Cursor = field(default_factory=lambda: Cursor(None, 0))
    gap: bool = False
    timed_out: bool = False
    bus_trouble: BusState | None = None
    """The state of the bus when it last failed during the call (None: it answered throughout)."""


class _Collector:
    def __init__(
        self,
        gateway: Gateway,
        network: str,
        topics: Sequence[str],
        max_events: int,
        on_event: EventSink,
        accept: EventFilter | None,
        deadline: float,
        stop_when: StopWhen | None = None,
        with_current: bool = False,
    ) -> None:
        self.gateway, self.network, self.topics = gateway, network, list(dict.fromkeys(topics))
        self.with_current = with_current
        self.topic = self.topics[0] if len(self.topics) == 1 else f"{self.topics[0]} and others"
        self.max_events = max_events
        self.on_event = on_event
        self.deadline = deadline
        self.accept = accept
        self.stop_when = stop_when
        self.stopped = False
        self.result = Collected()
        self.started = False
        self.behind = False
        """Live delivery may have lost events: catch up from history before taking live ones again."""

    @property
    def full(self) -> bool:
        return self.stopped or len(self.result.events) >= self.max_events

    async def run(self, cursor: Cursor | None, subscriber: Subscriber) -> None:
        """Start, then follow until full or the deadline; ride out bus errors until the deadline.

        Raises the last :class:`~shared.errors.BusError` when the deadline came while the bus still failed.
        The retry machinery (a stop event, a timer, the retry state) is built only once the bus has failed:
        thousands of calls wait at once, nearly always on a bus that answers.
        """
        try:
            await self._step(cursor, subscriber)
            return
        except BusError as error:
            first_error = error
            self._note(error)
            if time.monotonic() >= self.deadline:
                raise
        await self._retry(cursor, subscriber, first_error)

    def _note(self, error: BaseException) -> None:
        if isinstance(error, BusError):
            self.result.bus_trouble = bus_state(error)

    async def _retry(self, cursor: Cursor | None, subscriber: Subscriber, first_error: BusError) -> None:
        """Try again after ``first_error`` (backing off, as from a first failed attempt) until the deadline."""
        deadline_passed = asyncio.Event()
        timer = asyncio.get_running_loop().call_at(self.deadline, deadline_passed.set)  # loop time is monotonic
        last_error: list[BaseException] = [first_error]

        def note(error: BaseException) -> None:
            last_error[:] = [error]
            self._note(error)

        try:
            with contextlib.suppress(TimeoutError):  # the first pause, as tenacity's after a first failure
                async with asyncio.timeout(random.uniform(BUS_RETRY_FIRST_S / 2, BUS_RETRY_FIRST_S)):
                    await deadline_passed.wait()
            if deadline_passed.is_set():
                raise first_error
            async for attempt in retrying(
                f"read {self.topic} events",
                on=BusError,
                first_s=BUS_RETRY_FIRST_S * 2,
                max_s=BUS_RETRY_MAX_S,
                stop=deadline_passed,
                on_retry=note,
                logger=_RETRIES,
            ):
                with attempt:
                    await self._step(cursor, subscriber)
                    return
        finally:
            timer.cancel()
        raise last_error[0]

    async def _step(self, cursor: Cursor | None, subscriber: Subscriber) -> None:
        if not self.started:
            await self.start(cursor)
        elif self.behind:
            await self.catch_up()
        if not self.full:
            await self.follow(subscriber)

    async def start(self, cursor: Cursor | None) -> None:
        """Find the starting point (once: a retry after a bus error goes on from where it stopped)."""
        if cursor is None:
            async with self._bounded("read position"):
                position = await self.gateway.backend.position(self.network)
            self._start_at(Cursor(position.epoch, position.last_id))
            if self.with_current:
                for event in await self._current(position.last_id):
                    await self._deliver(event)
            return
        page = await self._page(cursor.last_id)
        position = page.position
        if cursor.epoch is not None and cursor.epoch != position.epoch:
            self._start_at(Cursor(position.epoch, position.last_id), gap=True)  # what followed it is gone
        elif cursor.last_id > position.last_id:
            # Ahead of the newest event: in this epoch nothing followed it yet, so from now on; a bare id
            # this epoch never reached comes from an older one, whose later events may have been missed.
            self._start_at(Cursor(position.epoch, position.last_id), gap=cursor.epoch is None)
        else:
            self._start_at(Cursor(position.epoch, cursor.last_id))
            self.behind = True
            if await self._consume(page):
                await self.catch_up()
            self.behind = False

    def _start_at(self, cursor: Cursor, *, gap: bool = False) -> None:
        self.result.cursor = cursor
        self.result.gap |= gap
        self.started = True

    async def catch_up(self) -> None:
        self.behind = True
        while not self.full:
            page = await self._page(self.result.cursor.last_id)
            position = page.position
            if position.epoch != self.result.cursor.epoch:
                self.result.gap = True
                self.result.cursor = Cursor(position.epoch, 0)
                continue
            if self.result.cursor.last_id > position.last_id:  # the sequence went back: ids may repeat
                self.result.gap = True
                self.result.cursor = Cursor(position.epoch, position.last_id)
                break
            if not await self._consume(page):
                break
        self.behind = False

    async def _page(self, after: int) -> HistoryPage:
        backend = self.gateway.backend
        async with self._bounded("read history"):
            if len(self.topics) == 1:
                return await backend.history(self.network, self.topics[0], after=after, limit=HISTORY_PAGE)
            pages = await asyncio.gather(
                *(backend.history(self.network, topic, after=after, limit=HISTORY_PAGE) for topic in self.topics)
            )
        return merged_page(pages)

    @contextlib.asynccontextmanager
    async def _bounded(self, what: str) -> AsyncIterator[None]:
        """A bus read that a hung Redis cannot stretch past the call's deadline (plus a short grace)."""
        try:
            async with asyncio.timeout_at(self.deadline + READ_GRACE_S):
                yield
        except TimeoutError:
            raise BusUnavailable(f"{what}: the event bus did not answer before the call's deadline") from None

    async def _consume(self, page: HistoryPage) -> bool:
        self.result.gap |= page.gap
        for event in page.events:
            await self.take(event)
            if self.full:
                return False
        return page.has_more

    async def _current(self, last_id: int) -> list[Event]:
        async with self._bounded("read the current state"):
            return await current_state(self.gateway, self.network, self.topics, last_id)

    async def take(self, event: Event) -> None:
        cursor = self.result.cursor
        if event.seq <= cursor.last_id:
            return
        self.result.cursor = Cursor(cursor.epoch, event.seq)
        await self._deliver(event)

    async def _deliver(self, event: Event) -> None:
        if self.accept is not None and not self.accept(event):
            return
        self.result.events.append(event)
        self.stopped |= self.stop_when is not None and self.stop_when(event)
        try:
            await self.on_event(event, self.result.cursor.epoch or "", self.deadline)
        except TimeoutError:
            self.result.timed_out = True  # the caller stopped reading: keep the event for the result

    async def follow(self, subscriber: Subscriber) -> None:
        """Take live events until full, the deadline or shutdown; what ended the wait sets ``timed_out``."""
        shutting_down = self.gateway.shutting_down
        while not self.full and not shutting_down.is_set():
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.result.timed_out = True
                return
            message = await subscriber.get(remaining)
            if message is None:  # the wait's timer ran out, or a shutdown closed the subscriber
                self.result.timed_out = not shutting_down.is_set()
                return
            if isinstance(message, Resync):
                await self.catch_up()
            else:
                await self.take(message)


async def current_state(gateway: Gateway, network: str, topics: Sequence[str], last_id: int) -> list[Event]:
    """Each topic's state at ``last_id``: its newest event that is not a gap notice, and any gap notice
    after it (from its few newest events), in id order."""
    backend = gateway.backend
    recents = await asyncio.gather(*(backend.recent(network, topic, CURRENT_EVENTS) for topic in topics))
    current: list[Event] = []
    for recent in recents:
        held = [event for event in recent if event.seq <= last_id]
        states = [index for index, event in enumerate(held) if "gap" not in event.data]
        current += held[states[-1] :] if states else held
    return sorted(current, key=lambda event: event.seq)


def merged_page(pages: Sequence[HistoryPage]) -> HistoryPage:
    """The history pages of several topics (read after one id) as one page, in id order.

    A topic whose page has more events bounds the merged page at its last id: beyond it, that topic's
    next events are not read yet, so the merged page stops there and says it has more.
    """
    bound = min((page.events[-1].seq for page in pages if page.has_more and page.events), default=None)
    events = sorted((event for page in pages for event in page.events), key=lambda event: event.seq)
    if bound is not None:
        events = [event for event in events if event.seq <= bound]
    return HistoryPage(
        events=events,
        gap=any(page.gap for page in pages),
        has_more=any(page.has_more for page in pages),
        position=pages[-1].position,
    )


async def collect(
    gateway: Gateway,
    network: str,
    topic: str | Sequence[str],
    *,
    cursor: Cursor | None,
    max_events: int,
    timeout_s: float,
    on_event: EventSink,
    accept: EventFilter | None = None,
    stop_when: StopWhen | None = None,
    with_current: bool = False,
) -> Collected:
    """Gather up to ``max_events`` events of ``topic`` (or of several topics, merged in id order) after
    ``cursor`` (or from now), within ``timeout_s``.

    ``on_event`` runs for each event as soon as it is taken (to push it to the caller). With ``accept``,
    events it rejects advance the cursor but are neither returned nor pushed. ``stop_when`` ends the wait
    at the first event it is true for. ``with_current`` (without a cursor) starts with each topic's current
    state (its newest event that is not a gap notice, and any gap notice after it) before new events. Bus
    errors are ridden out until the deadline (the bus comes back on its own); :class:`~shared.errors.BusError` is raised
    only when the bus never answered during the whole call, so there is no position to return.
    """
    topics = [topic] if isinstance(topic, str) else list(topic)
    deadline = time.monotonic() + timeout_s
    collector = _Collector(gateway, network, topics, max_events, on_event, accept, deadline, stop_when, with_current)
    names = gateway.names(network)
    async with gateway.hub.subscribe_all([names.channel(each) for each in topics]) as subscriber:
        try:
            await collector.run(cursor, subscriber)
        except BusError as exc:
            collector.result.bus_trouble = bus_state(exc)
            if not collector.started:
                raise
            collector.result.timed_out = not gateway.shutting_down.is_set()
    return collector.result
