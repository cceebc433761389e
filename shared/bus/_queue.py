"""The single-consumer queue of live messages shared by both backends."""

from __future__ import annotations

import asyncio
from collections import deque

from shared.bus.base import BusMessage, Delivery, Resync
from shared.errors import BusError


class DeliveryQueue:
    """Bounded: a delivery that finds it full is dropped, and its channel is reported later as a Resync."""

    def __init__(self, capacity: int, name: str) -> None:
        self._capacity = capacity
        self._name = name
        self._messages: deque[BusMessage] = deque()
        self._overflowed: set[str] = set()
        self._wakeup = asyncio.Event()
        self._closed = False

    def put(self, message: BusMessage) -> None:
        """Queue ``message`` without waiting."""
        if isinstance(message, Delivery) and len(self._messages) >= self._capacity:
            self._overflowed.add(message.channel)
        else:
            self._messages.append(message)
        self._wakeup.set()

    def open(self) -> None:
        """Accept consumers again after :meth:`close`."""
        self._closed = False

    def close(self) -> None:
        """Wake the consumer; once drained, :meth:`get` raises :class:`BusError`."""
        self._closed = True
        self._wakeup.set()

    async def get(self) -> BusMessage:
        """The next message (a Resync for any overflow once the backlog is drained)."""
        while True:
            if self._messages:
                return self._messages.popleft()
            if self._overflowed:
                channels, self._overflowed = frozenset(self._overflowed), set()
                return Resync(channels=channels, reason="local queue overflow")
            if self._closed:
                raise BusError(f"the {self._name} bus is closed")
            self._wakeup.clear()
            await self._wakeup.wait()
