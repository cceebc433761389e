"""How the Redis backend reports each kind of Redis failure, on a private redis-server it may break."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    MasterDownError,
    ResponseError,
)
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)
from redis.exceptions import (
    TimeoutError as RedisTimeoutError,
)

from shared.bus._translate import bus_error
from shared.bus.base import Resync
from shared.bus.redis import RedisBackend
from shared.errors import BusError, BusOutOfMemory, BusReadOnly, BusUnavailable, Fenced
from shared.events import Publication
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

URL = "redis://:***@redis.internal:6379/0"


def pub(n: int = 0) -> Publication:
    return Publication(network="mainnet", topic="stats", data={"n": n}, ts_ms=1_700_000_000_000 + n)


@pytest.fixture
async def server() -> AsyncIterator[RedisServer]:
    running = RedisServer()
    await asyncio.to_thread(running.start)
    try:
        yield running
    finally:
        await asyncio.to_thread(running.cleanup)


@pytest.fixture
async def admin(server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def backend(server: RedisServer) -> AsyncIterator[RedisBackend]:
    created = RedisBackend(server.url, prefix="errors")
    await created.connect()
    try:
        yield created
    finally:
        await created.close()


async def test_out_of_memory_is_reported_as_out_of_memory(backend: RedisBackend, admin: aioredis.Redis) -> None:
    assert await backend.hold_leadership("mainnet", "a", ttl_s=5)
    await admin.config_set("maxmemory-policy", "noeviction")
    await admin.config_set("maxmemory", "1")
    try:
        with pytest.raises(BusOutOfMemory, match=r"is out of memory \(used memory is over maxmemory\)"):
            await backend.publish([pub()], fence="a")
        with pytest.raises(BusOutOfMemory):
            await backend.renew_lease("mainnet", "x", "p", 5)
        assert await backend.latest("mainnet", "stats") is None, "reads still work"
    finally:
        await admin.config_set("maxmemory", "0")
    [event] = await backend.publish([pub()], fence="a")
    assert event.seq == 1


async def test_a_read_only_replica_is_reported_as_such(backend: RedisBackend, admin: aioredis.Redis) -> None:
    assert await backend.hold_leadership("mainnet", "a", ttl_s=5)
    await admin.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))
    try:
        with pytest.raises(BusReadOnly, match=r"read-only replica \(e\.g\. during a failover\)"):
            await backend.publish([pub()], fence="a")
        with pytest.raises(BusReadOnly):
            await backend.hold_leadership("mainnet", "a", ttl_s=5)
        assert await backend.leader("mainnet") == "a", "reads still work"
    finally:
        await admin.execute_command("REPLICAOF", "NO", "ONE")
    assert len(await backend.publish([pub()], fence="a")) == 1


async def test_a_wiped_leader_key_is_taken_back_by_the_publish_and_another_holder_fences_it(
    backend: RedisBackend, admin: aioredis.Redis
) -> None:
    assert await backend.hold_leadership("mainnet", "a", ttl_s=5)
    await admin.flushall()
    assert len(await backend.publish([pub()], fence="a")) == 1
    assert await admin.get("errors:mainnet:ingestor:leader") == "a"
    assert 0 < await admin.pttl("errors:mainnet:ingestor:leader") <= 5000
    await admin.set("errors:mainnet:ingestor:leader", "b")
    with pytest.raises(Fenced, match="another replica holds the leadership"):
        await backend.publish([pub()], fence="a")
    await admin.delete("errors:mainnet:ingestor:leader")
    with pytest.raises(Fenced):
        await backend.publish([pub()], fence="a")


async def test_on_reconnect_runs_when_a_pooled_connection_comes_back_not_when_the_pool_grows(
    backend: RedisBackend, admin: aioredis.Redis
) -> None:
    calls: list[int] = []
    backend.on_reconnect(lambda: calls.append(1))
    await asyncio.gather(*(backend.latest("mainnet", "stats") for _ in range(8)))
    assert calls == []
    await admin.client_kill_filter(_type="normal", skipme=True)
    for _ in range(20):
        await backend.latest("mainnet", "stats")
    assert calls, "the next command reconnected, and said so"


async def test_an_unreachable_redis_is_reported_without_secrets() -> None:
    port = free_port()
    backend = RedisBackend(f"redis://:hunter2@127.0.0.1:{port}/0", connect_timeout_s=0.5)
    try:
        with pytest.raises(BusUnavailable, match="is unreachable") as raised:
            await backend.connect()
        assert "hunter2" not in str(raised.value) and "***" in str(raised.value)
    finally:
        await backend.close()


@pytest.mark.parametrize(
    ("raised", "expected", "words"),
    [
        (ResponseError("OOM command not allowed when used memory > 'maxmemory'."), BusOutOfMemory, "out of memory"),
        (ResponseError("Error running script: -OOM command not allowed"), BusOutOfMemory, "out of memory"),
        (ResponseError("READONLY You can't write against a read only replica."), BusReadOnly, "read-only replica"),
        (ResponseError("FENCED another replica holds the leadership"), Fenced, "fenced"),
        (BusyLoadingError("Redis is loading the dataset in memory"), BusUnavailable, "loading its data"),
        (MasterDownError("Link with MASTER is down"), BusUnavailable, "MASTERDOWN"),
        (AuthenticationError("invalid password"), BusUnavailable, "rejected the credentials"),
        (RedisConnectionError("Connection closed by server."), BusUnavailable, "unreachable"),
        (RedisTimeoutError("Timeout reading from socket"), BusUnavailable, "unreachable"),
        (ConnectionResetError(104, "reset"), BusUnavailable, "unreachable"),
        (ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), BusError, "WRONGTYPE"),
    ],
)
def test_every_kind_of_failure_has_its_error_class(raised: BaseException, expected: type[BusError], words: str) -> None:
    error = bus_error("publish", raised, URL)
    assert type(error) is expected
    assert words in str(error) and str(error).startswith("publish: ")


async def test_a_subscription_confirmed_after_redis_comes_back_is_followed_by_a_resync() -> None:
    server = RedisServer(free_port())
    backend = RedisBackend(server.url, prefix="late", retry_max_s=0.2)
    with contextlib.suppress(BusUnavailable):
        await backend.connect()
    try:
        started = asyncio.get_running_loop().time()
        await backend.subscribe("late:mainnet:stats")  # Redis is not there: not confirmed
        assert asyncio.get_running_loop().time() - started < 2.0, "subscribe waits at most about a second"
        await asyncio.to_thread(server.start)
        message = await asyncio.wait_for(backend.next_message(), 10)
        assert isinstance(message, Resync)
        assert message.channels == frozenset({"late:mainnet:stats"})
        assert message.reason == "subscription confirmed late"
    finally:
        await backend.close()
        await asyncio.to_thread(server.cleanup)


def test_a_write_on_a_socket_redis_closed_is_a_lost_connection_not_a_crash() -> None:
    closed = RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed")
    error = bus_error("hold leadership", closed, URL)
    assert isinstance(error, BusUnavailable) and "unreachable" in str(error)
    assert not isinstance(bus_error("x", RuntimeError("something else"), URL), BusUnavailable)


async def test_the_backend_translates_a_closed_transport_and_lets_other_runtime_errors_through() -> None:
    backend = RedisBackend("redis://127.0.0.1:1/0", prefix="closed")
    with pytest.raises(BusUnavailable), backend._translated("read latest"):
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed")
    with pytest.raises(RuntimeError, match="a bug"), backend._translated("read latest"):
        raise RuntimeError("a bug")
    await backend.close()
