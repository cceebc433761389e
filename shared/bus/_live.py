"""The supervised live reader of the Redis backend: one pub/sub link per process, whatever the subscribers.

The reader opens a :class:`~shared.bus._links.Link` when the first channel is wanted, reconnects with
back-off whenever it fails, resubscribes every wanted channel, and then emits
:class:`~shared.bus.base.Resync` (Redis PUB/SUB loses whatever was published while the link was down) and
calls the reconnect callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.exceptions import RedisError

from shared.bus._links import CONFIRM_KINDS, MESSAGE_KINDS, Link, Message
from shared.bus._queue import DeliveryQueue
from shared.bus.base import BusMessage, Delivery, Resync
from shared.errors import BusError
from shared.events import Event
from shared.retry import retrying
from shared.tasks import cancel_and_wait

log = logging.getLogger(__name__)

SUBSCRIBE_CONFIRM_TIMEOUT_S = 1.0
"""Longest wait in ``subscribe`` for Redis to confirm; a later confirmation is followed by a Resync."""
READ_POLL_S = 1.0
LOST_CONNECTION = (RedisError, OSError, RuntimeError)
"""What a lost pub/sub connection raises; uvloop says RuntimeError for a write on a socket Redis closed.
The reader outlives all of them: it reconnects."""


class LiveReader:
    """Wanted channels, their confirmations, the link and the delivery queue of one backend."""

    def __init__(
        self,
        new_link: Callable[[], Link],
        *,
        where: str,
        queue_size: int,
        retry_max_s: float,
        on_reconnect: Callable[[], None],
    ) -> None:
        self._new_link = new_link
        self._where = where
        self._retry_max_s = retry_max_s
        self._on_reconnect = on_reconnect
        self._channels: set[str] = set()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._unconfirmed: set[str] = set()
        self._link: Link | None = None
        self._sending = asyncio.Lock()
        """Subscribes and unsubscribes reach the link in the order they were asked for."""
        self._channels_changed = asyncio.Event()
        self._queue = DeliveryQueue(queue_size, "Redis")
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.reconnects = 0

    def start(self) -> None:
        """Start (or restart) the reader task."""
        self._closed = False
        self._queue.open()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._read_forever(), name="redis-pubsub-reader")

    async def close(self) -> None:
        """Stop the reader and close the link."""
        self._closed = True
        self._queue.close()
        self._channels_changed.set()
        if self._task is not None:
            await cancel_and_wait(self._task)
        self._task = None
        await self._drop()

    async def next_message(self) -> BusMessage:
        """The next delivery or resync."""
        return await self._queue.get()

    async def subscribe(self, channel: str) -> None:
        """Want ``channel``; wait (a bounded time) until the server confirmed it."""
        self._channels.add(channel)
        confirmation = asyncio.get_running_loop().create_future()
        self._confirmations[channel] = confirmation
        try:
            link = self._link
            if link is None:
                self._channels_changed.set()
            else:
                try:
                    async with self._sending:
                        await link.subscribe([channel])
                except LOST_CONNECTION as exc:
                    raise BusError(f"subscribe: {type(exc).__name__}") from exc
            async with asyncio.timeout(SUBSCRIBE_CONFIRM_TIMEOUT_S):  # wait_for (3.11) may swallow a cancel
                await asyncio.shield(confirmation)
        except (TimeoutError, BusError):
            if channel in self._channels:
                self._unconfirmed.add(channel)
            log.warning("subscription to %s not confirmed yet; the reader will resubscribe", channel)
        finally:
            self._confirmations.pop(channel, None)

    async def unsubscribe(self, channel: str) -> None:
        """Stop wanting ``channel``."""
        self._channels.discard(channel)
        self._unconfirmed.discard(channel)
        link = self._link
        if link is not None:
            with contextlib.suppress(*LOST_CONNECTION):
                async with self._sending:
                    await link.unsubscribe([channel])

    async def _read_forever(self) -> None:
        connected_once = False
        while not self._closed:
            if not self._channels:
                self._channels_changed.clear()
                await self._channels_changed.wait()
                continue
            async for attempt in retrying(
                f"open the Redis pub/sub connection to {self._where}",
                on=LOST_CONNECTION,
                first_s=0.1,
                max_s=self._retry_max_s,
                logger=log,
            ):
                with attempt:
                    await self._open()
            if connected_once:
                self.reconnects += 1
                self._queue.put(Resync(channels=frozenset(self._channels), reason="redis reconnected"))
                self._on_reconnect()
            connected_once = True
            try:
                await self._pump()
            except LOST_CONNECTION as exc:
                log.warning("Redis pub/sub connection to %s lost (%s); reconnecting", self._where, type(exc).__name__)
                await self._drop()

    async def _open(self) -> None:
        link = self._new_link()
        wanted = set(self._channels)
        await link.open(wanted)
        self._link = link
        try:
            if late := self._channels - wanted:  # subscribed while the connection was opening
                await link.subscribe(late)
            if gone := wanted - self._channels:  # unsubscribed meanwhile
                await link.unsubscribe(gone)
        except BaseException:
            await self._drop()
            raise

    async def _drop(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await link.close()

    async def _pump(self) -> None:
        link = self._link
        assert link is not None
        while not self._closed:
            message = await link.read(READ_POLL_S)
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: Message) -> None:
        kind, channel = message["type"], message["channel"]
        if kind in CONFIRM_KINDS:
            confirmation = self._confirmations.get(channel)
            if confirmation is not None and not confirmation.done():
                confirmation.set_result(None)
            if channel in self._unconfirmed:  # its subscriber read the history before this point: catch up
                self._unconfirmed.discard(channel)
                self._queue.put(Resync(channels=frozenset({channel}), reason="subscription confirmed late"))
        elif kind in MESSAGE_KINDS and channel in self._channels:
            try:
                event = Event.from_json(message["data"])
            except BusError as exc:
                log.warning("discarded a message on %s that is not an event envelope: %s", channel, exc)
                return
            self._queue.put(Delivery(channel=channel, event=event))
