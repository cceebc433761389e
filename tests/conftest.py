"""Shared fixtures: a Redis that tests may use, and names that keep each test's data apart."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from tests.support.redis_server import RedisServer
from tests.support.redis_topologies import ClusterServers, SentinelGroup

TEST_REDIS_ENV = "MEMPOOL_WS_TEST_REDIS_URL"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``MEMPOOL_WS_TEST_REDIS_URL`` when set, else a private redis-server started for this run."""
    configured = os.environ.get(TEST_REDIS_ENV)
    if configured:
        yield configured
        return
    server = RedisServer()
    server.start()
    try:
        yield server.url
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def sentinel_group() -> Iterator[SentinelGroup]:
    """A master, a replica and three sentinels, started for this run (shared: never failed over)."""
    group = SentinelGroup()
    try:
        group.start()
        yield group
    finally:
        group.cleanup()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[ClusterServers]:
    """A 3-master Redis Cluster, started for this run."""
    cluster = ClusterServers()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def key_prefix() -> str:
    """A prefix of channel and key names used by this test only."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis_cleanup(redis_url: str, key_prefix: str) -> AsyncIterator[None]:
    """Delete every key under this test's prefix afterwards (and nothing else)."""
    yield
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{key_prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
