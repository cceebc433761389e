"""The bus interface: one contract, two backends (Redis and embedded in-process).

Behaviour every backend guarantees (the contract suite in ``tests/bus`` checks it on both):

* ``publish`` gives each event an id one higher than any id before it on that network, then, as one
  atomic step, makes it the topic's latest value, appends it to the topic's bounded history and
  delivers it live to subscribers of the topic's channel.
* ``history(after=id)`` returns the events that followed ``id`` in the topic, oldest first, and says
  ``gap=True`` when some of them are no longer held (the window moved past the cursor). Every history
  entry remembers the id of the topic's previous event, which is how a trimmed event is detected.
* Ids belong to an epoch; the epoch changes when the sequence starts over, so a cursor from another
  epoch is recognisably stale. Within an epoch an id is never given out twice, also when Redis lost
  acknowledged events in a failover (its counter went backwards): the publisher's highest id lifts the
  counter, and the loss is reported as a :class:`SequenceRegression` to :meth:`Bus.on_regression`
  callbacks, so the publisher can mark it with gap notices.
* Live delivery is at most once. Whenever it may have lost messages (a reconnect, an overflow), the
  subscriber receives :class:`Resync` and should re-read history after the last id it saw.
* Leases, leadership and the ingestor status are shared coordination state with TTLs.
* A fenced publish runs only while its fence holder leads. When nobody leads (the lock expired, or an
  empty Redis restarted under a running leader), it takes the lock back for the holder, atomically and
  with the TTL of the holder's last successful ``hold_leadership``; it raises
  :class:`~shared.errors.Fenced` when another holder leads, or when the holder never led, released, or
  has seen another holder since it last led. So a replica that lost the lock to another never publishes.
* Failures are :class:`~shared.errors.BusError` of their kind (unavailable, out of memory, read-only,
  fenced); every one is transient for a daemon.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shared.channels import Names
from shared.errors import BusError
from shared.events import Event, Publication
from shared.models import IngestorStatus


@dataclass(frozen=True, slots=True)
class Position:
    """Where a network's event sequence stands: its epoch and the last id given out."""

    epoch: str
    """Changes when the sequence restarts (a Redis without persistence restarted, a new embedded bus)."""
    last_id: int
    writes_refused: BusError | None = None
    """Why the backend refuses writes now (out of memory, a read-only replica), or None: it accepts them."""


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Events read from a topic's history."""

    events: list[Event]
    """Events after the cursor, oldest first."""
    gap: bool
    """True when events between the cursor and the first returned event are no longer held."""
    has_more: bool
    """True when more events follow the last one returned."""
    position: Position
    """The network's position when the page was read."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A live event received on a subscribed channel."""

    channel: str
    event: Event


@dataclass(frozen=True, slots=True)
class Resync:
    """Live delivery may have lost messages on these channels; re-read history to catch up."""

    channels: frozenset[str]
    reason: str


BusMessage = Delivery | Resync


@dataclass(frozen=True, slots=True)
class SequenceRegression:
    """Redis lost events it had acknowledged to this publisher: its id counter went backwards in the epoch.

    Happens when a Sentinel (or cluster) failover promotes a replica that had not yet received the newest
    writes. The ids ``held_id + 1 .. lost_to_id`` were given out and are gone from Redis; the sequence goes
    on above ``lost_to_id``.
    """

    network: str
    epoch: str
    held_id: int
    """The last id the server still had."""
    lost_to_id: int
    """The highest id this publisher had been given."""
    topics: dict[str, tuple[int, int]]
    """Each topic that may have lost events, with the interval (ingest time, Unix ms) they came from."""
    detected_ms: int


class Bus(ABC):
    """Events: publish with ids, latest value, bounded history, live pub/sub."""

    @abstractmethod
    def names(self, network: str) -> Names:
        """Channel and key names of ``network`` in this backend's topology."""

    @abstractmethod
    async def connect(self) -> None:
        """Open connections; raise :class:`~shared.errors.BusUnavailable` if the backend is unreachable."""

    @abstractmethod
    async def close(self) -> None:
        """Close every connection; idempotent."""

    @abstractmethod
    async def ping(self) -> None:
        """Check the backend answers; raise :class:`~shared.errors.BusUnavailable` otherwise."""

    @abstractmethod
    async def warnings(self) -> list[str]:
        """What an operator should fix although the bus works now (e.g. Redis may evict our keys); [] if nothing."""

    @abstractmethod
    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever a lost connection is opened again (the server may have restarted empty)."""

    @abstractmethod
    def on_regression(self, callback: Callable[[SequenceRegression], None]) -> None:
        """Call ``callback`` (from within :meth:`publish`) when a publish finds the id counter went backwards."""

    @abstractmethod
    async def publish(
        self, publications: Sequence[Publication], *, fence: str | None = None, token: str | None = None
    ) -> list[Event]:
        """Publish in order, atomically per event; with ``fence``, only while ``fence`` leads (see the module).

        With ``token``, publishing is idempotent for the last batch: a call repeating the token of the last
        batch the network applied (a retry whose first reply was lost) returns that batch's events again
        instead of publishing them twice.

        Raise :class:`~shared.errors.Fenced` when fenced out, :class:`~shared.errors.BusUnavailable` when
        the backend is unreachable, and another :class:`~shared.errors.BusError` when it refuses.
        """

    @abstractmethod
    async def latest(self, network: str, topic: str) -> Event | None:
        """The newest event of ``topic``, without waiting; None if there is none."""

    @abstractmethod
    async def history(self, network: str, topic: str, after: int, limit: int) -> HistoryPage:
        """Up to ``limit`` events of ``topic`` with ids above ``after`` (0: from the oldest held)."""

    @abstractmethod
    async def recent(self, network: str, topic: str, limit: int) -> list[Event]:
        """The newest ``limit`` events of ``topic`` still held, oldest first."""

    @abstractmethod
    async def position(self, network: str) -> Position:
        """The network's epoch and the highest event id given out so far (0 if none)."""

    @abstractmethod
    async def subscribe(self, channel: str) -> None:
        """Start receiving live events published on ``channel``."""

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None:
        """Stop receiving live events of ``channel``."""

    @abstractmethod
    async def next_message(self) -> BusMessage:
        """The next live message on any subscribed channel (one consumer per bus)."""


class Coordinator(ABC):
    """Shared coordination state: address leases, ingestor leadership and status."""

    @abstractmethod
    async def renew_lease(self, network: str, address: str, holder: str, ttl_s: float) -> None:
        """Create or extend ``holder``'s lease on ``address`` for ``ttl_s`` seconds."""

    @abstractmethod
    async def release_lease(self, network: str, address: str, holder: str) -> None:
        """Drop ``holder``'s lease on ``address`` at once."""

    @abstractmethod
    async def leased_addresses(self, network: str) -> set[str]:
        """Every address with at least one live lease (expired leases are purged)."""

    @abstractmethod
    async def hold_leadership(self, network: str, holder: str, ttl_s: float) -> bool:
        """Take or renew leadership of ``network`` for ``ttl_s``; False if another holder has it."""

    @abstractmethod
    async def release_leadership(self, network: str, holder: str) -> None:
        """Give up leadership if ``holder`` has it."""

    @abstractmethod
    async def leader(self, network: str) -> str | None:
        """The current leader's holder id, if any."""

    @abstractmethod
    async def write_status(self, status: IngestorStatus, ttl_s: float) -> None:
        """Store the ingestor status, expiring after ``ttl_s``."""

    @abstractmethod
    async def read_status(self, network: str) -> IngestorStatus | None:
        """The stored ingestor status, or None when absent or expired."""


class Backend(Bus, Coordinator, ABC):
    """A complete backend: events plus coordination over one connection set."""
