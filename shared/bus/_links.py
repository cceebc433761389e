"""Pub/sub links: the connection(s) that carry live messages, one kind per topology.

* :class:`ClassicLink`: one PUB/SUB connection (SUBSCRIBE), to a single server or to the Sentinel master
  (the client finds the master through the sentinels each time it connects).
* :class:`ShardedLink`: on a Redis Cluster, one connection per node that owns a subscribed channel's slot
  (SSUBSCRIBE; every channel of one network shares one slot, so one network needs one connection). A
  slot moved away (the node says ``sunsubscribe`` for a channel still wanted) or a lost node fails the
  link; the reader then reopens it after refreshing the cluster's slot map, so it follows a failover or a
  resharding.

A link does not reconnect by itself: any failure raises, and the reader (:mod:`shared.bus._live`) drops
the link, opens a new one and reports a resync.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Collection
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

Message = dict[str, Any]
MESSAGE_KINDS = frozenset({"message", "smessage"})
CONFIRM_KINDS = frozenset({"subscribe", "ssubscribe"})


class SlotMoved(RedisConnectionError):
    """A node stopped serving a subscribed shard channel (its slot moved); the link must be reopened."""


class Link(ABC):
    """The live connection(s) of one reader."""

    @abstractmethod
    async def open(self, channels: Collection[str]) -> None:
        """Connect and subscribe ``channels``; raise on failure (leaving nothing open)."""

    @abstractmethod
    async def subscribe(self, channels: Collection[str]) -> None:
        """Subscribe more channels on the open link."""

    @abstractmethod
    async def unsubscribe(self, channels: Collection[str]) -> None:
        """Unsubscribe channels on the open link."""

    @abstractmethod
    async def read(self, timeout: float) -> Message | None:
        """The next message (or None after ``timeout`` seconds); raise when the link failed."""

    @abstractmethod
    async def close(self) -> None:
        """Close every connection; never raises."""


async def _close_pubsub(pubsub: PubSub) -> None:
    with contextlib.suppress(Exception):
        await pubsub.aclose()  # type: ignore[no-untyped-call]


class ClassicLink(Link):
    """One PUB/SUB connection from ``client``'s pool (single server or Sentinel master)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._pubsub: PubSub | None = None

    async def open(self, channels: Collection[str]) -> None:
        pubsub = self._client.pubsub()
        try:
            if channels:
                await pubsub.subscribe(*sorted(channels))
        except BaseException:
            await _close_pubsub(pubsub)
            raise
        self._pubsub = pubsub

    def _open(self) -> PubSub:
        if self._pubsub is None:
            raise RedisConnectionError("the pub/sub link is closed")
        return self._pubsub

    async def subscribe(self, channels: Collection[str]) -> None:
        if channels:
            await self._open().subscribe(*sorted(channels))

    async def unsubscribe(self, channels: Collection[str]) -> None:
        if channels:
            await self._open().unsubscribe(*sorted(channels))

    async def read(self, timeout: float) -> Message | None:
        message: Message | None = await self._open().get_message(timeout=timeout)
        return message

    async def close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await _close_pubsub(pubsub)


class _Node:
    """The connection to one cluster node and the task that reads it into the link's inbox."""

    def __init__(self, client: aioredis.Redis, pubsub: PubSub) -> None:
        self.client = client
        self.pubsub = pubsub
        self.channels: set[str] = set()
        self.task: asyncio.Task[None] | None = None

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
        await _close_pubsub(self.pubsub)
        with contextlib.suppress(Exception):
            await self.client.aclose()


class ShardedLink(Link):
    """SSUBSCRIBE connections to the nodes owning the subscribed channels' slots of ``cluster``."""

    def __init__(self, cluster: RedisCluster, node_client: Callable[[str, int], aioredis.Redis]) -> None:
        self._cluster = cluster
        self._node_client = node_client
        self._nodes: dict[str, _Node] = {}
        self._owner: dict[str, str] = {}
        self._inbox: asyncio.Queue[Message | BaseException] = asyncio.Queue()
        self._refresh = False

    async def open(self, channels: Collection[str]) -> None:
        self._inbox = asyncio.Queue()
        await self._cluster.initialize()
        if self._refresh:  # reopened after a failure: the slot map may be stale (failover, resharding)
            await self._cluster.nodes_manager.initialize()
        self._refresh = True
        try:
            await self.subscribe(channels)
        except BaseException:
            await self.close()
            raise

    async def subscribe(self, channels: Collection[str]) -> None:
        by_node: defaultdict[str, list[str]] = defaultdict(list)
        for channel in sorted(channels):
            owner = self._cluster.get_node_from_key(channel)
            assert owner is not None  # None only when asking for a replica
            by_node[owner.name].append(channel)
        for name, wanted in by_node.items():
            node = self._nodes.get(name) or await self._connect(name)
            node.channels.update(wanted)  # before the await: an unsubscribe meanwhile must find its node
            self._owner.update(dict.fromkeys(wanted, name))
            by_slot: defaultdict[int, list[str]] = defaultdict(list)
            for channel in wanted:
                by_slot[self._cluster.keyslot(channel)].append(channel)
            for same_slot in by_slot.values():  # one SSUBSCRIBE may not span slots
                await node.pubsub.ssubscribe(*same_slot)

    async def _connect(self, name: str) -> _Node:
        host, _, port = name.rpartition(":")
        client = self._node_client(host, int(port))
        node = _Node(client, client.pubsub())
        self._nodes[name] = node
        node.task = asyncio.create_task(self._pump(node), name=f"redis-shard-pubsub-{name}")
        return node

    async def _pump(self, node: _Node) -> None:
        try:
            while True:
                if not node.pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await node.pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message["type"] == "sunsubscribe" and message["channel"] in node.channels:
                    raise SlotMoved(f"{message['channel']} is no longer served by {node.client}")
                self._inbox.put_nowait(message)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._inbox.put_nowait(exc)

    async def unsubscribe(self, channels: Collection[str]) -> None:
        for channel in channels:
            name = self._owner.pop(channel, None)
            node = self._nodes.get(name) if name else None
            if node is not None:
                node.channels.discard(channel)
                await node.pubsub.sunsubscribe(channel)

    async def read(self, timeout: float) -> Message | None:
        try:
            async with asyncio.timeout(timeout):  # unlike wait_for (3.11), never swallows a cancellation
                item = await self._inbox.get()
        except TimeoutError:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    async def close(self) -> None:
        nodes, self._nodes = list(self._nodes.values()), {}
        self._owner.clear()
        for node in nodes:
            await node.close()
