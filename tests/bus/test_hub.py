"""Local fan-out over both backends, and what Redis-native consumers see."""

from __future__ import annotations

import asyncio
import json
import random

import redis.asyncio as aioredis

from shared.bus import Backend, Hub, MemoryBackend, Resync
from shared.bus.redis import RedisBackend
from shared.events import Event, Publication


def pub(n: int, topic: str = "stats") -> Publication:
    return Publication(network="mainnet", topic=topic, data={"n": n}, ts_ms=n)


async def test_every_local_subscriber_gets_each_event(backend: Backend) -> None:
    hub = Hub(backend, capacity=16)
    await hub.start()
    channel = backend.names("mainnet").channel("stats")
    try:
        async with hub.subscribe(channel) as one, hub.subscribe(channel) as two:
            assert hub.channels == [channel] and hub.subscriber_count == 2
            [event] = await backend.publish([pub(1)])
            got_one, got_two = await one.get(5), await two.get(5)
            assert isinstance(got_one, Event) and got_one.raw == event.raw
            assert got_two == got_one
        assert hub.channels == [] and hub.subscriber_count == 0
    finally:
        await hub.stop()


async def test_one_subscriber_of_several_channels_gets_their_events_in_arrival_order(backend: Backend) -> None:
    hub = Hub(backend, capacity=16)
    await hub.start()
    names = backend.names("mainnet")
    channels = [names.channel("address:a"), names.channel("address:b")]
    try:
        async with hub.subscribe_all(channels) as wallet, hub.subscribe(channels[1]) as single:
            assert sorted(hub.channels) == sorted(channels) and hub.subscriber_count == 3
            published = await backend.publish([pub(1, "address:b"), pub(2, "address:a"), pub(3, "address:b")])
            got = [await wallet.get(5) for _ in published]
            assert [event.seq for event in got if isinstance(event, Event)] == [e.seq for e in published]
            assert isinstance(await single.get(5), Event)
            wallet.request_resync("test")
            resync = await wallet.get(5)
            assert isinstance(resync, Resync) and resync.channels == frozenset(channels)
        assert hub.channels == [] and hub.subscriber_count == 0
    finally:
        await hub.stop()


async def test_redis_holds_one_subscription_per_channel_whatever_the_subscribers(
    redis_url: str, key_prefix: str, redis_cleanup: None
) -> None:
    backend = RedisBackend(redis_url, prefix=key_prefix)
    await backend.connect()
    hub = Hub(backend)
    await hub.start()
    probe = aioredis.Redis.from_url(redis_url)
    channel = f"{key_prefix}:mainnet:blocks"
    try:
        async with asyncio.timeout(10):
            async with hub.subscribe(channel) as first:
                subscribers = [hub.subscribe(channel) for _ in range(50)]
                entered = [await sub.__aenter__() for sub in subscribers]
                [(_, count)] = await probe.pubsub_numsub(channel)
                assert count == 1
                [event] = await backend.publish([pub(1, "blocks")])
                for subscriber in [first, *entered]:
                    got = await subscriber.get(5)
                    assert isinstance(got, Event) and got.seq == event.seq
                for sub in subscribers:
                    await sub.__aexit__(None, None, None)
                [(_, count)] = await probe.pubsub_numsub(channel)
                assert count == 1
            [(_, count)] = await probe.pubsub_numsub(channel)
            assert count == 0
    finally:
        await probe.aclose()
        await hub.stop()
        await backend.close()


async def test_a_subscribe_cancelled_half_way_leaves_no_redis_subscription_behind(
    redis_url: str, key_prefix: str, redis_cleanup: None
) -> None:
    """A caller that goes away while Redis confirms its subscription (a killed client) unsubscribes it."""
    backend = RedisBackend(redis_url, prefix=key_prefix)
    await backend.connect()
    hub = Hub(backend)
    await hub.start()
    probe = aioredis.Redis.from_url(redis_url)
    rng = random.Random(7)
    channels = [f"{key_prefix}:mainnet:address:{n}" for n in range(12)]

    async def hold(channel: str) -> None:
        async with hub.subscribe(channel):
            await asyncio.sleep(3600)

    try:
        holders = [asyncio.create_task(hold(channel)) for channel in channels]
        for holder in holders:
            await asyncio.sleep(rng.uniform(0, 0.004))
            holder.cancel()
        await asyncio.gather(*holders, return_exceptions=True)
        assert hub.channels == []
        counts: list[int] = []
        async with asyncio.timeout(5):
            while sum(counts := [count for _, count in await probe.pubsub_numsub(*channels)]):
                await asyncio.sleep(0.02)
        assert counts == [0] * len(channels)
    finally:
        await probe.aclose()
        await hub.stop()
        await backend.close()


async def test_a_slow_subscriber_stays_bounded_counts_drops_and_is_told_to_resync() -> None:
    backend = MemoryBackend()
    drops: list[str] = []
    hub = Hub(backend, capacity=4, on_drop=drops.append)
    await hub.start()
    try:
        async with (
            hub.subscribe("mempool:mainnet:stats") as slow,
            hub.subscribe("mempool:mainnet:stats") as fast,
        ):
            for n in range(10):
                await backend.publish([pub(n)])
                got = await fast.get(1)
                assert isinstance(got, Event) and got.data == {"n": n}
            assert slow.pending == 4 and slow.dropped == 6 and len(drops) == 6
            first = await slow.get(1)
            assert isinstance(first, Resync) and "slow consumer" in first.reason
            assert slow.pending == 0
    finally:
        await hub.stop()


async def test_a_lost_redis_connection_resyncs_subscribers_and_delivery_resumes(
    redis_url: str, key_prefix: str, redis_cleanup: None
) -> None:
    backend = RedisBackend(redis_url, prefix=key_prefix)
    await backend.connect()
    hub = Hub(backend)
    await hub.start()
    admin = aioredis.Redis.from_url(redis_url)
    channel = f"{key_prefix}:mainnet:stats"
    try:
        async with asyncio.timeout(20), hub.subscribe(channel) as subscriber:
            await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            message = await subscriber.get(10)
            assert isinstance(message, Resync) and message.reason == "redis reconnected"
            assert backend.reconnects == 1
            [event] = await backend.publish([pub(5)])
            got = await subscriber.get(5)
            assert isinstance(got, Event) and got.seq == event.seq
    finally:
        await admin.aclose()
        await hub.stop()
        await backend.close()


async def test_redis_native_consumers_read_plain_envelopes(
    redis_url: str, key_prefix: str, redis_cleanup: None
) -> None:
    backend = RedisBackend(redis_url, prefix=key_prefix)
    await backend.connect()
    raw = aioredis.Redis.from_url(redis_url, decode_responses=True)
    pubsub = raw.pubsub()
    try:
        await pubsub.subscribe(f"{key_prefix}:mainnet:stats")
        await pubsub.get_message(timeout=1)
        [event] = await backend.publish([pub(9)])
        message = None
        for _ in range(50):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message:
                break
        assert message is not None
        envelope = json.loads(message["data"])
        assert envelope == {
            "v": 1,
            "id": event.id,
            "network": "mainnet",
            "topic": "stats",
            "ts_ms": 9,
            "data": {"n": 9},
        }
        latest = await raw.get(f"{key_prefix}:mainnet:stats:latest")
        assert latest is not None and json.loads(latest) == envelope
        entries: list[tuple[str, dict[str, str]]] = await raw.xrange(  # type: ignore[assignment]
            f"{key_prefix}:mainnet:stats:history", f"({int(event.id) - 1}-0", "+"
        )
        assert entries[0][0] == f"{event.id}-0" and json.loads(entries[0][1]["e"]) == envelope
    finally:
        await pubsub.aclose()
        await raw.aclose()
        await backend.close()
