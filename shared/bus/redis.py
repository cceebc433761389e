"""The Redis backend: PUBLISH + SET + XADD in one Lua step, history in streams, a supervised PUB/SUB reader.

Connections: one bounded command pool (``max_connections``) and one PUB/SUB connection per process,
whatever the number of subscribers. A command that meets a dropped pooled connection (Redis restarted,
``CLIENT KILL``, a reset) is retried on a new connection by redis-py (asyncio retry, a connection error
only: a timeout is never retried, so a slow publish cannot run twice). The PUB/SUB reader reconnects
with back-off on its own; after each reconnect it resubscribes and emits
:class:`~shared.bus.base.Resync`, because Redis PUB/SUB loses whatever was published while the
connection was down. Every failure surfaces as a :class:`~shared.errors.BusError` of its kind
(:func:`~shared.bus._translate.bus_error`), and an evicting ``maxmemory-policy`` as a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from shared.bus import _lua
from shared.bus._policy import EvictionWatch
from shared.bus._queue import DeliveryQueue
from shared.bus._translate import bus_error
from shared.bus.base import Backend, BusMessage, Delivery, HistoryPage, Position, Resync
from shared.bus.retention import Retention
from shared.channels import Names, lease_address, lease_member
from shared.errors import BusError, Fenced
from shared.events import Event, Publication
from shared.models import IngestorStatus
from shared.retry import retrying
from shared.settings import redact_url
from shared.tasks import cancel_and_wait

log = logging.getLogger(__name__)

DEFAULT_MAX_CONNECTIONS = 16
DEFAULT_QUEUE_SIZE = 10_000
SUBSCRIBE_CONFIRM_TIMEOUT_S = 5.0
READ_POLL_S = 1.0
COMMAND_RETRIES = 3
"""Retries of a command on a new connection after a connection error (waits 50 to 500 ms, jittered)."""


class RedisBackend(Backend):
    """Redis implementation of :class:`~shared.bus.base.Backend` (``redis://`` or ``rediss://``)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "mempool",
        retention: Retention | None = None,
        connect_timeout_s: float = 5.0,
        retry_max_s: float = 10.0,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        health_check_interval_s: int = 10,
        policy_check_interval_s: float = 60.0,
    ) -> None:
        self._url = url
        self.safe_url = redact_url(url)
        self._prefix = prefix
        self._retention = retention or Retention()
        self._retry_max_s = retry_max_s
        common: dict[str, Any] = {
            "decode_responses": True,
            "socket_connect_timeout": connect_timeout_s,
            "socket_timeout": connect_timeout_s,
            "health_check_interval": health_check_interval_s,
        }
        command_pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=connect_timeout_s,
            retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), COMMAND_RETRIES, (RedisConnectionError,)),
            redis_connect_func=self._on_connection,
            **common,
        )
        self._client = aioredis.Redis(connection_pool=command_pool)
        self._pubsub_client = aioredis.Redis.from_url(url, max_connections=1, retry=Retry(NoBackoff(), 0), **common)
        self._eviction = EvictionWatch(self._client, self.safe_url, policy_check_interval_s)
        self._watcher: asyncio.Task[None] | None = None
        self._seen_connections: weakref.WeakSet[AbstractConnection] = weakref.WeakSet()
        self._reconnect_callbacks: list[Callable[[], None]] = []
        self._fence_ttl_ms: dict[tuple[str, str], int] = {}
        self._publish_script = self._client.register_script(_lua.PUBLISH)
        self._history_script = self._client.register_script(_lua.HISTORY)
        self._hold_script = self._client.register_script(_lua.HOLD_LEADERSHIP)
        self._release_script = self._client.register_script(_lua.RELEASE_LEADERSHIP)
        self._renew_lease_script = self._client.register_script(_lua.RENEW_LEASE)
        self._leased_script = self._client.register_script(_lua.LEASED)
        self._channels: set[str] = set()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._pubsub: PubSub | None = None
        self._channels_changed = asyncio.Event()
        self._queue = DeliveryQueue(queue_size, "Redis")
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        self.reconnects = 0

    def names(self, network: str) -> Names:
        """Channel and key names for ``network``."""
        return Names(self._prefix, network)

    @contextlib.contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except (RedisError, OSError, TimeoutError) as exc:
            raise bus_error(what, exc, self.safe_url) from exc

    async def _on_connection(self, connection: AbstractConnection) -> None:
        await connection.on_connect()
        if connection not in self._seen_connections:
            self._seen_connections.add(connection)
            return
        for callback in list(self._reconnect_callbacks):
            callback()

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        self._reconnect_callbacks.append(callback)

    async def warnings(self) -> list[str]:
        return self._eviction.warnings()

    async def connect(self) -> None:
        self._closed = False
        self._queue.open()
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_forever(), name="redis-pubsub-reader")
        await self.ping()
        if self._watcher is None or self._watcher.done():
            await self._eviction.check()
            self._watcher = asyncio.create_task(self._eviction.run(), name="redis-policy-watch")

    async def close(self) -> None:
        self._closed = True
        self._queue.close()
        self._channels_changed.set()
        await cancel_and_wait(*(task for task in (self._reader, self._watcher) if task is not None))
        self._reader = self._watcher = None
        await self._drop_pubsub()
        await self._client.aclose(close_connection_pool=True)
        await self._pubsub_client.aclose()

    async def ping(self) -> None:
        with self._translated("ping"):
            await self._client.ping()

    async def publish(self, publications: Sequence[Publication], *, fence: str | None = None) -> list[Event]:
        if not publications:
            return []
        names = self.names(publications[0].network)
        keys: list[str] = [names.seq, names.leader, names.epoch]
        take_ttl_ms = self._fence_ttl_ms.get((names.network, fence), 0) if fence else 0
        args: list[str | int] = [fence or "", len(publications), _new_epoch(), take_ttl_ms]
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
                ids = await self._publish_script(keys=keys, args=args)
        except Fenced:
            self._fence_ttl_ms.pop((names.network, fence or ""), None)
            raise
        return [
            Event.from_publication(publication, int(event_id), envelope)
            for publication, event_id, envelope in zip(publications, ids, parts, strict=True)
        ]

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
        self._channels.add(channel)
        confirmation = asyncio.get_running_loop().create_future()
        self._confirmations[channel] = confirmation
        try:
            pubsub = self._pubsub
            if pubsub is None:
                self._channels_changed.set()
            else:
                with self._translated("subscribe"):
                    await pubsub.subscribe(channel)
            await asyncio.wait_for(asyncio.shield(confirmation), SUBSCRIBE_CONFIRM_TIMEOUT_S)
        except (TimeoutError, BusError):
            log.warning("subscription to %s not confirmed yet; the reader will resubscribe", channel)
        finally:
            self._confirmations.pop(channel, None)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        pubsub = self._pubsub
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.unsubscribe(channel)

    async def next_message(self) -> BusMessage:
        return await self._queue.get()

    async def _read_forever(self) -> None:
        connected_once = False
        while not self._closed:
            if not self._channels:
                self._channels_changed.clear()
                await self._channels_changed.wait()
                continue
            async for attempt in retrying(
                f"open the Redis pub/sub connection to {self.safe_url}",
                on=(RedisError, OSError),
                first_s=0.1,
                max_s=self._retry_max_s,
                logger=log,
            ):
                with attempt:
                    await self._open_pubsub()
            if connected_once:
                self.reconnects += 1
                self._queue.put(Resync(channels=frozenset(self._channels), reason="redis reconnected"))
                for callback in list(self._reconnect_callbacks):
                    callback()
            connected_once = True
            try:
                await self._pump()
            except (RedisError, OSError) as exc:
                log.warning("Redis pub/sub connection to %s lost (%s); reconnecting", self.safe_url, type(exc).__name__)
                await self._drop_pubsub()

    async def _open_pubsub(self) -> None:
        pubsub = self._pubsub_client.pubsub()
        try:
            wanted = set(self._channels)
            if wanted:
                await pubsub.subscribe(*sorted(wanted))
        except BaseException:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        self._pubsub = pubsub
        try:
            if late := self._channels - wanted:  # subscribed while the connection was opening
                await pubsub.subscribe(*sorted(late))
            if gone := wanted - self._channels:  # unsubscribed meanwhile
                await pubsub.unsubscribe(*sorted(gone))
        except BaseException:
            await self._drop_pubsub()
            raise

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _pump(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        while not self._closed:
            message = await pubsub.get_message(timeout=READ_POLL_S)
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind, channel = message["type"], message["channel"]
        if kind == "subscribe":
            confirmation = self._confirmations.get(channel)
            if confirmation is not None and not confirmation.done():
                confirmation.set_result(None)
        elif kind == "message" and channel in self._channels:
            try:
                event = Event.from_json(message["data"])
            except BusError as exc:
                log.warning("discarded a message on %s that is not an event envelope: %s", channel, exc)
                return
            self._queue.put(Delivery(channel=channel, event=event))

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
