"""The redis-py clients of each topology: a bounded command client and a way to open pub/sub links.

* single server: a blocking pool of ``max_connections`` (``redis://``, ``rediss://``, ``unix://``);
* Sentinel: the same, through :class:`~redis.asyncio.sentinel.SentinelConnectionPool` (each new
  connection asks the sentinels for the master; a connection to a demoted master fails with READONLY and
  is dropped), and the pub/sub link on a Sentinel-managed connection too;
* Cluster: :class:`~redis.asyncio.cluster.RedisCluster` (it follows MOVED and refreshes its slot map after
  a failure), with at most ``max_connections`` commands in flight, and sharded pub/sub links.

A command that meets a dropped connection is retried on a new one (a connection error only: a timeout is
never retried, so a slow publish cannot run twice).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection, BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.event import AsyncAfterSlotsCacheRefreshEvent, AsyncEventListenerInterface, EventDispatcher
from redis.exceptions import ClusterDownError, SlotNotCoveredError
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.bus._links import ClassicLink, Link, ShardedLink
from shared.bus.location import RedisLocation

COMMAND_RETRIES = 3
"""Retries of a command on a new connection after a connection error (waits 50 to 500 ms, jittered)."""

ConnectCallback = Callable[[AbstractConnection], Awaitable[None]]


@dataclass
class Clients:
    """The command client, the pub/sub link factory and how to close them."""

    command: Any
    """``redis.asyncio.Redis`` or ``RedisCluster`` (their command methods are the same)."""
    new_link: Callable[[], Link]
    sharded: bool = False
    """True on a cluster: live channels are shard channels (SPUBLISH/SSUBSCRIBE)."""
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        """Close every client and pool."""
        for close in self.closers:
            await close()


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Connection settings shared by every topology."""

    connect_timeout_s: float
    max_connections: int
    health_check_interval_s: int
    on_connection: ConnectCallback
    """Called on every new connection of the command pool (not on a cluster: see ``on_topology_change``)."""
    on_topology_change: Callable[[], None]
    """Called when a cluster client refreshed its slot map (after a failover, a resharding, a lost node)."""

    def common(self) -> dict[str, Any]:
        return {
            "decode_responses": True,
            "socket_connect_timeout": self.connect_timeout_s,
            "socket_timeout": self.connect_timeout_s,
            "health_check_interval": self.health_check_interval_s,
        }

    def command_retry(self) -> Retry:
        return Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), COMMAND_RETRIES, (RedisConnectionError,))


def build_clients(location: RedisLocation, settings: ClientSettings) -> Clients:
    """The clients for ``location``."""
    if location.topology == "sentinel":
        return _sentinel(location, settings)
    if location.topology == "cluster":
        return _cluster(location, settings)
    return _single(location, settings)


def _single(location: RedisLocation, settings: ClientSettings) -> Clients:
    common = settings.common()
    pool = aioredis.BlockingConnectionPool.from_url(
        location.url,
        max_connections=settings.max_connections,
        timeout=settings.connect_timeout_s,
        retry=settings.command_retry(),
        redis_connect_func=settings.on_connection,
        **common,
    )
    command = aioredis.Redis(connection_pool=pool)
    pubsub = aioredis.Redis.from_url(location.url, max_connections=1, retry=Retry(NoBackoff(), 0), **common)
    return Clients(
        command=command,
        new_link=lambda: ClassicLink(pubsub),
        closers=[lambda: command.aclose(close_connection_pool=True), pubsub.aclose],
    )


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """A Sentinel-managed pool that waits for a free connection (up to its timeout) instead of failing."""


def _sentinel(location: RedisLocation, settings: ClientSettings) -> Clients:
    common = settings.common()
    sentinel_kwargs = {
        "socket_connect_timeout": settings.connect_timeout_s,
        "socket_timeout": settings.connect_timeout_s,
        **location.sentinel_options,
    }
    sentinel = Sentinel(list(location.hosts), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
    node = {"db": location.db, **common, **location.options}
    command = sentinel.master_for(
        location.service,
        connection_pool_class=_BlockingSentinelPool,
        max_connections=settings.max_connections,
        timeout=settings.connect_timeout_s,
        retry=settings.command_retry(),
        redis_connect_func=settings.on_connection,
        **node,
    )
    pubsub = sentinel.master_for(location.service, retry=Retry(NoBackoff(), 0), **node)
    return Clients(
        command=command,
        new_link=lambda: ClassicLink(pubsub),
        closers=[command.aclose, pubsub.aclose, sentinel.aclose],
    )


class _BoundedCluster(RedisCluster):
    """A cluster client with at most ``limit`` commands in flight (its node pools fail rather than wait),
    retrying connection errors but never a timeout (a slow publish must not run twice)."""

    ERRORS_ALLOW_RETRY = (RedisConnectionError, ClusterDownError, SlotNotCoveredError)  # type: ignore[assignment]

    def __init__(self, *, limit: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._limit = asyncio.Semaphore(limit)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self._limit:
            return await super().execute_command(*args, **kwargs)


class _TopologyListener(AsyncEventListenerInterface):
    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback

    async def listen(self, event: object) -> None:
        self._callback()


def _cluster(location: RedisLocation, settings: ClientSettings) -> Clients:
    common = settings.common()
    dispatcher = EventDispatcher()
    dispatcher.register_listeners({AsyncAfterSlotsCacheRefreshEvent: [_TopologyListener(settings.on_topology_change)]})
    command = _BoundedCluster(
        limit=settings.max_connections,
        startup_nodes=[ClusterNode(host, port) for host, port in location.hosts],
        max_connections=settings.max_connections,
        retry=Retry(NoBackoff(), COMMAND_RETRIES),
        event_dispatcher=dispatcher,
        **common,
        **location.options,
    )

    def node_client(host: str, port: int) -> aioredis.Redis:
        return aioredis.Redis(host=host, port=port, retry=Retry(NoBackoff(), 0), **common, **location.options)

    return Clients(
        command=command,
        new_link=lambda: ShardedLink(command, node_client),
        sharded=True,
        closers=[command.aclose],
    )
