"""Backends of the bus contract suite: every test runs on each kind unless it says why it cannot.

=========  ==========================================================================================
kind       what
=========  ==========================================================================================
memory     the embedded backend
fakeredis  the Redis backend over fakeredis with Lua: the fast run needs no server
redis      the Redis backend on one redis-server (the session's)
sentinel   the Redis backend through three sentinels to a master with a replica
cluster    the Redis backend on a 3-master Redis Cluster (hash-tagged names, sharded pub/sub)
=========  ==========================================================================================
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import fakeredis
import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from shared.bus import Backend, MemoryBackend, Retention
from shared.bus.redis import RedisBackend
from tests.support.fake_redis import FAKE_URL, fake_clients
from tests.support.redis_topologies import delete_keys

KINDS = ("memory", "fakeredis", "redis", "sentinel", "cluster")
REDIS_KINDS = KINDS[1:]
"""The kinds with a Redis underneath, which a test can reach around the backend (a raw client)."""

BackendFactory = Callable[..., Backend]


def only(*kinds: str) -> pytest.MarkDecorator:
    """Run a test on ``kinds`` only; say why next to it."""
    return pytest.mark.parametrize("kit", kinds, indirect=True)


@dataclass
class Kit:
    """Makes connected backends of one kind that share this test's data, and raw clients of that data."""

    kind: str
    prefix: str
    url: str = ""
    master_url: str = ""
    """A sentinel group's master (a raw client talks to it directly)."""
    server: fakeredis.FakeServer | None = None
    made: list[Backend] = field(default_factory=list)
    raws: list[Any] = field(default_factory=list)
    _memory: MemoryBackend | None = None

    def make(self, retention: Retention | None = None) -> Backend:
        backend: Backend
        if self.kind == "memory":
            self._memory = self._memory or MemoryBackend(prefix=self.prefix, retention=retention)
            backend = self._memory
        elif self.kind == "fakeredis":
            assert self.server is not None
            backend = RedisBackend(FAKE_URL, prefix=self.prefix, retention=retention, clients=fake_clients(self.server))
        else:
            backend = RedisBackend(self.url, prefix=self.prefix, retention=retention)
        self.made.append(backend)
        return backend

    def raw(self) -> Any:
        """A redis-py asyncio client (``Redis`` or ``RedisCluster``) of the backend's data, decoded."""
        client: Any
        if self.kind == "fakeredis":
            client = fakeredis.FakeAsyncRedis(server=self.server, decode_responses=True)
        elif self.kind == "cluster":
            host, port = self.url.removeprefix("redis+cluster://").split(",")[0].split(":")
            client = RedisCluster(host=host, port=int(port), decode_responses=True)
        elif self.kind == "memory":
            raise AssertionError("the embedded backend has no Redis underneath")
        else:
            client = aioredis.Redis.from_url(self.master_url or self.url, decode_responses=True)
        self.raws.append(client)
        return client

    async def close(self) -> None:
        for backend in self.made:
            await backend.close()
        for client in self.raws:
            await client.aclose()


@pytest.fixture(params=KINDS)
async def kit(request: pytest.FixtureRequest, key_prefix: str) -> AsyncIterator[Kit]:
    """The parametrized kind's kit; deletes this test's keys afterwards."""
    kind = str(request.param)
    made = Kit(kind=kind, prefix=key_prefix)
    data_urls: list[str] = []
    if kind == "fakeredis":
        made.server = fakeredis.FakeServer()
    elif kind == "redis":
        made.url = request.getfixturevalue("redis_url")
        data_urls = [made.url]
    elif kind == "sentinel":
        group = request.getfixturevalue("sentinel_group")
        made.url, made.master_url = group.url, group.current_master().url
        data_urls = [made.master_url]
    elif kind == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        made.url, data_urls = cluster.url, [node.url for node in cluster.nodes]
    try:
        yield made
    finally:
        await made.close()
        for url in data_urls:
            await delete_keys(url, f"{key_prefix}:*")


@pytest.fixture
def make_backend(kit: Kit) -> BackendFactory:
    """A factory of backends of the parametrized kind, sharing this test's prefix."""
    return kit.make


@pytest.fixture
async def backend(make_backend: BackendFactory) -> Backend:
    """One connected backend with small history windows."""
    created = make_backend(Retention(history_size=5, address_history_size=3, address_ttl_s=60))
    await created.connect()
    return created
