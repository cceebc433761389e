"""The Redis backend: PUBLISH + SET + XADD in one Lua step, history in streams, a supervised PUB/SUB reader.

One backend for the three topologies of :mod:`shared.bus.location` (a server, Sentinel, Cluster): the
clients differ (:mod:`shared.bus._clients`), the scripts and names do not, except that on a cluster the
names carry the network as a hash tag and live messages go out with SPUBLISH (:mod:`shared.channels`).

Connections: one bounded command pool (``max_connections``) and one PUB/SUB link per process, whatever
the number of subscribers (:mod:`shared.bus._live`). Every failure surfaces as a
:class:`~shared.errors.BusError` of its kind (:func:`~shared.bus._translate.bus_error`), and an evicting
``maxmemory-policy`` as a warning. A publish passes the highest id this process was given, so a counter
that went backwards in a failover is lifted and reported (:mod:`shared.bus._issued`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from shared.bus import _lua
from shared.bus._clients import Clients, ClientSettings, build_clients
from shared.bus._issued import Issued
from shared.bus._live import LiveReader
from shared.bus._policy import EvictionWatch
from shared.bus._translate import bus_error, closed_transport
from shared.bus.base import Backend, BusMessage, HistoryPage, Position, SequenceRegression
from shared.bus.location import RedisLocation, parse_redis_url
from shared.bus.retention import Retention
from shared.channels import Names, lease_address, lease_member
from shared.errors import BusError, Fenced
from shared.events import Event, Publication
from shared.models import IngestorStatus
from shared.tasks import cancel_and_wait

log = logging.getLogger(__name__)

DEFAULT_MAX_CONNECTIONS = 16
DEFAULT_QUEUE_SIZE = 10_000
LAST_PUBLISH_TTL_MS = 300_000
"""How long Redis remembers the last publish's token and ids (a retry after a lost reply comes within it)."""


class RedisBackend(Backend):
    """Redis implementation of :class:`~shared.bus.base.Backend`, for any URL of :mod:`shared.bus.location`."""

    def __init__(
        self,
        url: str | RedisLocation,
        *,
        prefix: str = "mempool",
        retention: Retention | None = None,
        connect_timeout_s: float = 5.0,
        retry_max_s: float = 10.0,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        health_check_interval_s: int = 10,
        policy_check_interval_s: float = 60.0,
        clients: Callable[[RedisLocation, ClientSettings], Clients] = build_clients,
    ) -> None:
        """``clients`` builds the redis-py clients (tests pass one that builds fakeredis clients)."""
        self.location = url if isinstance(url, RedisLocation) else parse_redis_url(url)
        self.safe_url = self.location.safe_url
        self._prefix = prefix
        self._retention = retention or Retention()
        self._seen_connections: weakref.WeakSet[AbstractConnection] = weakref.WeakSet()
        self._reconnect_callbacks: list[Callable[[], None]] = []
        self._regression_callbacks: list[Callable[[SequenceRegression], None]] = []
        self._clients = clients(
            self.location,
            ClientSettings(
                connect_timeout_s=connect_timeout_s,
                max_connections=max_connections,
                health_check_interval_s=health_check_interval_s,
                on_connection=self._on_connection,
                on_topology_change=self._reconnected,
            ),
        )
        self._client = self._clients.command
        self._publish_command = "SPUBLISH" if self._clients.sharded else "PUBLISH"
        self._eviction = EvictionWatch(self._client, self.safe_url, policy_check_interval_s)
        self._watcher: asyncio.Task[None] | None = None
        self._fence_ttl_ms: dict[tuple[str, str], int] = {}
        self._issued: dict[str, Issued] = {}
        self._publish_script = self._client.register_script(_lua.PUBLISH)
        self._history_script = self._client.register_script(_lua.HISTORY)
        self._hold_script = self._client.register_script(_lua.HOLD_LEADERSHIP)
        self._release_script = self._client.register_script(_lua.RELEASE_LEADERSHIP)
        self._renew_lease_script = self._client.register_script(_lua.RENEW_LEASE)
        self._leased_script = self._client.register_script(_lua.LEASED)
        self._live = LiveReader(
            self._clients.new_link,
            where=self.safe_url,
            queue_size=queue_size,
            retry_max_s=retry_max_s,
            on_reconnect=self._reconnected,
        )

    @property
    def reconnects(self) -> int:
        """How often the pub/sub link was opened again after a loss."""
        return self._live.reconnects

    def names(self, network: str) -> Names:
        """Channel and key names for ``network`` (hash-tagged on a cluster)."""
        return Names(self._prefix, network, cluster=self._clients.sharded)

    @contextlib.contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except (RedisError, OSError, TimeoutError) as exc:
            raise bus_error(what, exc, self.safe_url) from exc
        except RuntimeError as exc:
            if not closed_transport(exc):
                raise
            raise bus_error(what, exc, self.safe_url) from exc

    async def _on_connection(self, connection: AbstractConnection) -> None:
        try:
            await connection.on_connect()
        except RuntimeError as exc:  # a lost connection, so that redis-py retries it on a new one
            if not closed_transport(exc):
                raise
            raise RedisConnectionError(str(exc)) from exc
        if connection not in self._seen_connections:
            self._seen_connections.add(connection)
            return
        self._reconnected()

    def _reconnected(self) -> None:
        for callback in list(self._reconnect_callbacks):
            callback()

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        self._reconnect_callbacks.append(callback)

    def on_regression(self, callback: Callable[[SequenceRegression], None]) -> None:
        self._regression_callbacks.append(callback)

    async def warnings(self) -> list[str]:
        return self._eviction.warnings()

    async def connect(self) -> None:
        self._live.start()
        await self.ping()
        if self._watcher is None or self._watcher.done():
            await self._eviction.check()
            self._watcher = asyncio.create_task(self._eviction.run(), name="redis-policy-watch")

    async def close(self) -> None:
        await self._live.close()
        if self._watcher is not None:
            await cancel_and_wait(self._watcher)
        self._watcher = None
        await self._clients.close()

    async def ping(self) -> None:
        with self._translated("ping"):
            await self._client.ping()

    async def publish(
        self, publications: Sequence[Publication], *, fence: str | None = None, token: str | None = None
    ) -> list[Event]:
        if not publications:
            return []
        names = self.names(publications[0].network)
        issued = self._issued.setdefault(names.network, Issued(names.network))
        expected_epoch, floor = issued.floor()
        keys: list[str] = [names.seq, names.leader, names.epoch, names.last_publish]
        take_ttl_ms = self._fence_ttl_ms.get((names.network, fence), 0) if fence else 0
        args: list[str | int] = [
            fence or "",
            len(publications),
            _new_epoch(),
            take_ttl_ms,
            self._publish_command,
            expected_epoch,
            floor,
            token or "",
            LAST_PUBLISH_TTL_MS,
        ]
        parts = [publication.envelope_parts() for publication in publications]
        for publication, (head, tail) in zip(publications, parts, strict=True):
            if publication.network != names.network:
                raise BusError("one publish call carries one network")
            topic = publication.topic
            keys += [names.history(topic), names.latest(topic)]
            args += [
                head,
                tail,
                names.channel(topic),
                self._retention.max_len(topic),
                self._retention.ttl_s(topic),
            ]
        try:
            with self._translated("publish"):
                epoch, held, *ids = await self._publish_script(keys=keys, args=args)
        except Fenced:
            self._fence_ttl_ms.pop((names.network, fence or ""), None)
            raise
        events = [
            Event.from_publication(publication, int(event_id), envelope)
            for publication, event_id, envelope in zip(publications, ids, parts, strict=True)
        ]
        regression = issued.regression(int(held), floor) if int(held) >= 0 else None
        issued.record(str(epoch), events)
        if regression is not None:
            self._regressed(regression)
        return events

    def _regressed(self, regression: SequenceRegression) -> None:
        log.warning(
            "Redis at %s lost events it had acknowledged (a failover to a replica that lacked them?): "
            "the %s id sequence stood at %d, below the %d already given out; ids go on above %d, "
            "and %d topics may have lost events",
            self.safe_url,
            regression.network,
            regression.held_id,
            regression.lost_to_id,
            regression.lost_to_id,
            len(regression.topics),
        )
        for callback in list(self._regression_callbacks):
            callback(regression)

    async def latest(self, network: str, topic: str) -> Event | None:
        with self._translated("read latest"):
            raw = await self._client.get(self.names(network).latest(topic))
        return Event.from_json(raw) if raw else None

    async def history(self, network: str, topic: str, after: int, limit: int) -> HistoryPage:
        names = self.names(network)
        with self._translated("read history"):
            current, epoch, entries, refused = await self._history_script(
                keys=[names.seq, names.epoch, names.history(topic)], args=[after, limit + 1, _new_epoch()]
            )
        position = _position(current, epoch, refused, self.safe_url)
        if after > position.last_id:
            return HistoryPage(events=[], gap=True, has_more=False, position=position)
        parsed = [_entry_fields(entry) for entry in entries]
        return HistoryPage(
            events=[Event.from_json(fields["e"]) for fields in parsed[:limit]],
            gap=bool(parsed) and int(parsed[0].get("p", "0")) > after,
            has_more=len(parsed) > limit,
            position=position,
        )

    async def recent(self, network: str, topic: str, limit: int) -> list[Event]:
        if limit <= 0:
            return []
        with self._translated("read recent history"):
            entries = await self._client.xrevrange(self.names(network).history(topic), count=limit)
        return [Event.from_json(_entry_fields(entry)["e"]) for entry in reversed(list(entries or []))]

    async def position(self, network: str) -> Position:
        names = self.names(network)
        with self._translated("read position"):
            current, epoch, _, refused = await self._history_script(
                keys=[names.seq, names.epoch, names.history("")], args=[0, 0, _new_epoch()]
            )
        return _position(current, epoch, refused, self.safe_url)

    async def subscribe(self, channel: str) -> None:
        await self._live.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        await self._live.unsubscribe(channel)

    async def next_message(self) -> BusMessage:
        return await self._live.next_message()

    async def renew_lease(self, network: str, address: str, holder: str, ttl_s: float) -> None:
        with self._translated("renew lease"):
            await self._renew_lease_script(
                keys=[self.names(network).leases], args=[lease_member(address, holder), int(ttl_s * 1000)]
            )

    async def release_lease(self, network: str, address: str, holder: str) -> None:
        with self._translated("release lease"):
            await self._client.zrem(self.names(network).leases, lease_member(address, holder))

    async def leased_addresses(self, network: str) -> set[str]:
        with self._translated("read leases"):
            members = await self._leased_script(keys=[self.names(network).leases])
        return {lease_address(member) for member in members}

    async def hold_leadership(self, network: str, holder: str, ttl_s: float) -> bool:
        with self._translated("hold leadership"):
            held = await self._hold_script(keys=[self.names(network).leader], args=[holder, int(ttl_s * 1000)])
        if held:
            self._fence_ttl_ms[(network, holder)] = max(1, int(ttl_s * 1000))
        else:
            self._fence_ttl_ms.pop((network, holder), None)
        return bool(held)

    async def release_leadership(self, network: str, holder: str) -> None:
        self._fence_ttl_ms.pop((network, holder), None)
        with self._translated("release leadership"):
            await self._release_script(keys=[self.names(network).leader], args=[holder])

    async def leader(self, network: str) -> str | None:
        with self._translated("read leader"):
            value = await self._client.get(self.names(network).leader)
        return str(value) if value else None

    async def write_status(self, status: IngestorStatus, ttl_s: float) -> None:
        with self._translated("write status"):
            await self._client.set(self.names(status.network).status, status.model_dump_json(), px=int(ttl_s * 1000))

    async def read_status(self, network: str) -> IngestorStatus | None:
        with self._translated("read status"):
            raw = await self._client.get(self.names(network).status)
        return IngestorStatus.model_validate_json(raw) if raw else None


def _new_epoch() -> str:
    return uuid.uuid4().hex[:8]


def _position(current: Any, epoch: Any, refused: Any, where: str) -> Position:
    """The position a HISTORY script read, with Redis's refusal of writes (its reply to the epoch's SET), if any."""
    refusal = bus_error("write", ResponseError(str(refused)), where) if refused else None
    if epoch is None:  # no epoch yet, and Redis refused to start one
        raise refusal or BusError("read position: the network has no epoch")
    return Position(epoch=str(epoch), last_id=int(current), writes_refused=refusal)


def _entry_fields(entry: Sequence[Any]) -> dict[str, str]:
    _, flat = entry
    if isinstance(flat, dict):
        return {str(key): str(value) for key, value in flat.items()}
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)}
