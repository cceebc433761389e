"""The embedded backend: the whole bus contract inside one process, no server needed.

Used by ``mempool-ws serve`` without ``--redis-url`` and by fast unit tests. It is a real backend,
not a mock: ids, latest values, bounded histories with gap detection, live delivery with overflow
resync, leases, leadership and status behave as the Redis backend does.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shared.bus._queue import DeliveryQueue
from shared.bus.base import Backend, BusMessage, Delivery, HistoryPage, Position, SequenceRegression
from shared.bus.retention import Retention
from shared.channels import Names, lease_address, lease_member
from shared.errors import BusError, Fenced
from shared.events import Event, Publication
from shared.models import IngestorStatus

DEFAULT_QUEUE_SIZE = 10_000


@dataclass(slots=True)
class _Entry:
    event: Event
    prev: int


@dataclass(slots=True)
class _Topic:
    entries: deque[_Entry]
    latest: Event | None = None
    expires_at: float | None = None


class MemoryBackend(Backend):
    """In-process implementation of :class:`~shared.bus.base.Backend`."""

    def __init__(
        self,
        *,
        prefix: str = "mempool",
        retention: Retention | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._prefix = prefix
        self._retention = retention or Retention()
        self._clock = clock
        self._seq: dict[str, int] = {}
        self._epochs: dict[str, str] = {}
        self._topics: dict[tuple[str, str], _Topic] = {}
        self._subscribed: set[str] = set()
        self._queue = DeliveryQueue(queue_size, "embedded")
        self._leases: dict[str, dict[str, float]] = {}
        self._leaders: dict[str, tuple[str, float]] = {}
        self._status: dict[str, tuple[IngestorStatus, float]] = {}
        self._last_publish: dict[str, tuple[str, list[Event]]] = {}
        self._fence_ttl_s: dict[tuple[str, str], float] = {}
        self._closed = False

    def names(self, network: str) -> Names:
        """Channel and key names for ``network``."""
        return Names(self._prefix, network)

    async def connect(self) -> None:
        self._closed = False
        self._queue.open()

    async def close(self) -> None:
        self._closed = True
        self._queue.close()

    async def ping(self) -> None:
        if self._closed:
            raise BusError("the embedded bus is closed")

    async def warnings(self) -> list[str]:
        return []

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """The embedded bus never loses its connection: ``callback`` is never called."""

    def on_regression(self, callback: Callable[[SequenceRegression], None]) -> None:
        """The embedded bus never loses what it acknowledged: ``callback`` is never called."""

    async def publish(
        self, publications: Sequence[Publication], *, fence: str | None = None, token: str | None = None
    ) -> list[Event]:
        network = publications[0].network if publications else ""
        last = self._last_publish.get(network)
        if token is not None and last is not None and last[0] == token:
            return list(last[1])
        if fence is not None:
            self._check_fence(network, fence)
        events = [self._publish_one(publication) for publication in publications]
        if token is not None:
            self._last_publish[network] = (token, events)
        return events

    def _check_fence(self, network: str, fence: str) -> None:
        current = self._current_leader(network)
        ttl_s = self._fence_ttl_s.get((network, fence))
        if current is None and ttl_s is not None:
            self._leaders[network] = (fence, self._clock() + ttl_s)
        elif current != fence:
            self._fence_ttl_s.pop((network, fence), None)
            raise Fenced("publish: fenced: another replica holds the leadership")

    def _publish_one(self, publication: Publication) -> Event:
        network, topic = publication.network, publication.topic
        state = self._topic(network, topic, create=True)
        assert state is not None
        prev = state.entries[-1].event.seq if state.entries else 0
        seq = max(self._seq.get(network, 0), prev) + 1
        self._seq[network] = seq
        event = Event.from_publication(publication, seq)
        state.entries.append(_Entry(event=event, prev=prev))
        state.latest = event
        ttl = self._retention.ttl_s(topic)
        state.expires_at = self._clock() + ttl if ttl else None
        channel = self.names(network).channel(topic)
        if channel in self._subscribed:
            self._queue.put(Delivery(channel=channel, event=event))
        return event

    def _topic(self, network: str, topic: str, *, create: bool = False) -> _Topic | None:
        key = (network, topic)
        state = self._topics.get(key)
        if state is not None and state.expires_at is not None and state.expires_at <= self._clock():
            del self._topics[key]
            state = None
        if state is None and create:
            state = _Topic(entries=deque(maxlen=self._retention.max_len(topic)))
            self._topics[key] = state
        return state

    async def latest(self, network: str, topic: str) -> Event | None:
        state = self._topic(network, topic)
        return state.latest if state else None

    async def history(self, network: str, topic: str, after: int, limit: int) -> HistoryPage:
        position = await self.position(network)
        state = self._topic(network, topic)
        if after > position.last_id:
            return HistoryPage(events=[], gap=True, has_more=False, position=position)
        newer = [entry for entry in state.entries if entry.event.seq > after] if state else []
        return HistoryPage(
            events=[entry.event for entry in newer[:limit]],
            gap=bool(newer) and newer[0].prev > after,
            has_more=len(newer) > limit,
            position=position,
        )

    async def recent(self, network: str, topic: str, limit: int) -> list[Event]:
        state = self._topic(network, topic)
        if state is None or limit <= 0:
            return []
        return [entry.event for entry in list(state.entries)[-limit:]]

    async def position(self, network: str) -> Position:
        epoch = self._epochs.setdefault(network, uuid.uuid4().hex[:8])
        return Position(epoch=epoch, last_id=self._seq.get(network, 0))

    async def subscribe(self, channel: str) -> None:
        self._subscribed.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._subscribed.discard(channel)

    async def next_message(self) -> BusMessage:
        return await self._queue.get()

    async def renew_lease(self, network: str, address: str, holder: str, ttl_s: float) -> None:
        self._leases.setdefault(network, {})[lease_member(address, holder)] = self._clock() + ttl_s

    async def release_lease(self, network: str, address: str, holder: str) -> None:
        self._leases.get(network, {}).pop(lease_member(address, holder), None)

    async def leased_addresses(self, network: str) -> set[str]:
        now = self._clock()
        leases = self._leases.get(network, {})
        for member in [member for member, expiry in leases.items() if expiry <= now]:
            del leases[member]
        return {lease_address(member) for member in leases}

    def _current_leader(self, network: str) -> str | None:
        held = self._leaders.get(network)
        if held is None or held[1] <= self._clock():
            return None
        return held[0]

    async def hold_leadership(self, network: str, holder: str, ttl_s: float) -> bool:
        current = self._current_leader(network)
        if current not in (None, holder):
            self._fence_ttl_s.pop((network, holder), None)
            return False
        self._leaders[network] = (holder, self._clock() + ttl_s)
        self._fence_ttl_s[(network, holder)] = ttl_s
        return True

    async def release_leadership(self, network: str, holder: str) -> None:
        self._fence_ttl_s.pop((network, holder), None)
        if self._current_leader(network) == holder:
            del self._leaders[network]

    async def leader(self, network: str) -> str | None:
        return self._current_leader(network)

    async def write_status(self, status: IngestorStatus, ttl_s: float) -> None:
        self._status[status.network] = (status, self._clock() + ttl_s)

    async def read_status(self, network: str) -> IngestorStatus | None:
        held = self._status.get(network)
        if held is None or held[1] <= self._clock():
            return None
        return held[0]
