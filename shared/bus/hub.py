"""Local fan-out: one backend subscription per channel per process, shared by every local subscriber.

The first local subscriber of a channel subscribes the backend; the last one to leave unsubscribes it.
The reader never blocks: each subscriber has a bounded buffer, and when it is full the oldest event is
dropped, counted, and the subscriber is told to resync from history (so nothing inside the history
window is lost, and a stalled consumer costs bounded memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence

from shared.bus.base import Bus, Delivery, Resync
from shared.errors import BusError
from shared.events import Event

log = logging.getLogger(__name__)


def _time_out(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class Subscriber:
    """One local consumer of a channel (or of several: their events arrive in one buffer, in arrival order).

    Thousands wait at once, so a subscriber is small: slots, and a bare future (only while its consumer
    waits) with a loop timer instead of an ``asyncio.Event`` and a timeout context.
    """

    __slots__ = ("_buffer", "_capacity", "_closed", "_resync", "_waiter", "channel", "channels", "dropped")

    def __init__(self, channel: str, capacity: int, channels: frozenset[str] | None = None) -> None:
        self.channel = channel
        self.channels = channels or frozenset({channel})
        self.dropped = 0
        self._capacity = capacity
        self._buffer: deque[Event] = deque()
        self._resync: str | None = None
        self._closed = False
        self._waiter: asyncio.Future[bool] | None = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def push(self, event: Event) -> bool:
        """Buffer ``event``; return False when the oldest buffered event had to be dropped for it."""
        kept = True
        if len(self._buffer) >= self._capacity:
            self._buffer.popleft()
            self.dropped += 1
            self._resync = "slow consumer: buffer full"
            kept = False
        self._buffer.append(event)
        self._wake()
        return kept

    def request_resync(self, reason: str) -> None:
        """Tell the consumer that live delivery may have lost events."""
        self._resync = reason
        self._wake()

    def close(self) -> None:
        """Wake the consumer for good; :meth:`get` returns None from now on."""
        self._closed = True
        self._wake()

    @property
    def pending(self) -> int:
        """Events buffered and not yet taken."""
        return len(self._buffer)

    async def get(self, timeout: float | None) -> Event | Resync | None:
        """The next event, a :class:`Resync` to act on first, or None on timeout or close."""
        while True:
            if self._resync is not None:
                reason, self._resync = self._resync, None
                self._buffer.clear()
                return Resync(channels=self.channels, reason=reason)
            if self._buffer:
                return self._buffer.popleft()
            if self._closed:
                return None
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(timeout, _time_out, waiter) if timeout is not None else None
            try:
                woken = await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
            if not woken:
                return None


class Hub:
    """Shares one backend subscription per channel among local subscribers."""

    def __init__(
        self,
        bus: Bus,
        *,
        capacity: int = 256,
        on_drop: Callable[[str], None] | None = None,
        on_resync: Callable[[Resync], None] | None = None,
    ) -> None:
        self._bus = bus
        self._capacity = capacity
        self._on_drop = on_drop
        self._on_resync = on_resync
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start reading the backend."""
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="hub-reader")

    async def stop(self) -> None:
        """Stop reading and wake every subscriber."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        self.close_subscribers()

    def close_subscribers(self) -> None:
        """Wake every local subscriber for good (a shutdown: waiting calls return what they have)."""
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.close()

    @property
    def channels(self) -> list[str]:
        """Channels with at least one local subscriber."""
        return [channel for channel, subscribers in self._subscribers.items() if subscribers]

    @property
    def subscriber_count(self) -> int:
        """Local subscribers across all channels."""
        return sum(len(subscribers) for subscribers in self._subscribers.values())

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscriber]:
        """Receive live events of ``channel`` while inside the block."""
        async with self.subscribe_all([channel]) as subscriber:
            yield subscriber

    @contextlib.asynccontextmanager
    async def subscribe_all(self, channels: Sequence[str]) -> AsyncIterator[Subscriber]:
        """Receive live events of every one of ``channels`` through one subscriber while inside the block."""
        unique = list(dict.fromkeys(channels))
        subscriber = Subscriber(unique[0], self._capacity, frozenset(unique))
        joined: list[str] = []
        try:
            for channel in unique:
                async with self._channel_lock(channel):
                    subscribers = self._subscribers.setdefault(channel, set())
                    if not subscribers:
                        try:
                            await self._bus.subscribe(channel)
                        except BaseException:
                            if not subscribers:  # cancelled or failed half-way: the backend may hold it
                                self._subscribers.pop(channel, None)
                                with contextlib.suppress(BusError):
                                    await asyncio.shield(self._bus.unsubscribe(channel))
                            raise
                    subscribers.add(subscriber)
                joined.append(channel)
            yield subscriber
        finally:
            subscriber.close()
            for channel in joined:
                await asyncio.shield(self._leave(channel, subscriber))

    @contextlib.asynccontextmanager
    async def _channel_lock(self, channel: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(channel) or (asyncio.Lock(), 0)
        self._locks[channel] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[channel]
            if users == 1:
                del self._locks[channel]
            else:
                self._locks[channel] = (lock, users - 1)

    async def _leave(self, channel: str, subscriber: Subscriber) -> None:
        async with self._channel_lock(channel):
            subscribers = self._subscribers.get(channel, set())
            subscribers.discard(subscriber)
            if not subscribers:
                self._subscribers.pop(channel, None)
                with contextlib.suppress(BusError):
                    await self._bus.unsubscribe(channel)

    async def _read(self) -> None:
        while True:
            try:
                message = await self._bus.next_message()
            except BusError:
                log.info("hub reader stopped: the bus is closed")
                return
            try:
                if isinstance(message, Delivery):
                    self._deliver(message)
                else:
                    self._resync(message)
            except Exception:
                log.exception("hub failed to dispatch a message; continuing")

    def _deliver(self, delivery: Delivery) -> None:
        for subscriber in self._subscribers.get(delivery.channel, ()):
            if not subscriber.push(delivery.event) and self._on_drop is not None:
                self._on_drop(delivery.channel)

    def _resync(self, resync: Resync) -> None:
        if self._on_resync is not None:
            self._on_resync(resync)
        for channel in resync.channels:
            for subscriber in self._subscribers.get(channel, ()):
                subscriber.request_resync(resync.reason)
