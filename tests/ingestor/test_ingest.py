"""The ingestor against the simulator and a real Redis: channels, recovery, leases, address sockets."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from ingestor.service import IngestorService
from shared.bitcoin.addresses import segwit_encode
from shared.bus.redis import RedisBackend
from shared.events import STREAM_TOPICS, Event
from simulator import Simulator

Start = Callable[..., Awaitable[IngestorService]]


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    """Await ``check()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def address(n: int) -> str:
    """A valid mainnet P2WPKH address, distinct per ``n``."""
    return segwit_encode("bc", 0, n.to_bytes(20, "big"))


async def all_deliver(probe: RedisBackend, addresses: list[str], timeout: float = 20) -> None:
    """Wait until every address has at least one event on its channel."""

    async def delivered() -> bool:
        latest = [await probe.latest("mainnet", f"address:{each}") for each in addresses]
        return all(latest)

    await eventually(delivered, timeout, "activity on every address")


async def block_heights(probe: RedisBackend) -> list[int]:
    events = await probe.recent("mainnet", "blocks", 500)
    return [event.data["height"] for event in events if "height" in event.data]


async def test_every_channel_carries_envelopes_of_the_design(
    running_ingestor: Start, probe: RedisBackend, redis_url: str, key_prefix: str
) -> None:
    raw = aioredis.Redis.from_url(redis_url, decode_responses=True)
    pubsub = raw.pubsub()
    await pubsub.subscribe(*[f"{key_prefix}:mainnet:{topic}" for topic in STREAM_TOPICS])
    service = await running_ingestor()
    seen: dict[str, dict[str, Any]] = {}
    try:
        async with asyncio.timeout(20):
            while set(seen) != set(STREAM_TOPICS):
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message:
                    envelope = json.loads(message["data"])
                    seen[envelope["topic"]] = envelope
    finally:
        await pubsub.aclose()
        await raw.aclose()
    for topic, envelope in seen.items():
        assert set(envelope) == {"v", "id", "network", "topic", "ts_ms", "data"}
        assert envelope["v"] == 1 and envelope["network"] == "mainnet" and envelope["topic"] == topic
        assert envelope["id"].isdigit() and abs(envelope["ts_ms"] / 1000 - time.time()) < 60
    assert seen["stats"]["data"]["fees"]["fastest"] >= seen["stats"]["data"]["fees"]["economy"]
    assert seen["blocks"]["data"]["height"] > 900_000
    assert len(seen["live-2h-chart"]["data"]["vsize_by_fee_band"]) == 39
    assert service.role == "leader"

    async def connected_status() -> bool:
        status = await probe.read_status("mainnet")
        return status is not None and status.upstream_connected and status.holder == service.holder

    await eventually(connected_status, 5, "a status record saying the upstream is connected")


async def test_blocks_missed_during_an_upstream_outage_land_in_history_in_order(
    running_ingestor: Start, probe: RedisBackend, simulator: Simulator
) -> None:
    await running_ingestor()
    await eventually(lambda: block_heights(probe), 15, "the first blocks")
    for outage_s in (2.0, 8.0):
        await simulator.go_offline()
        tip_before = simulator.tip_height
        await asyncio.sleep(outage_s)
        assert simulator.tip_height - tip_before >= 2, "the chain should keep going while offline"
        await simulator.go_online()
        target = simulator.tip_height

        async def caught_up(target: int = target) -> bool:
            heights = await block_heights(probe)
            return bool(heights) and max(heights) >= target

        await eventually(caught_up, 15, f"blocks up to {target}")
    heights = await block_heights(probe)
    assert heights == sorted(heights), "blocks are published in height order"
    assert len(heights) == len(set(heights)), "no block is published twice"
    assert heights == list(range(heights[0], heights[-1] + 1)), "no height is missing"
    sources = {event.data.get("source") for event in await probe.recent("mainnet", "blocks", 500)}
    assert "backfill" in sources, "the long outage needs the REST blocks list"


async def test_a_silent_upstream_socket_is_replaced_without_a_restart(
    running_ingestor: Start, probe: RedisBackend, simulator: Simulator
) -> None:
    service = await running_ingestor()
    await eventually(lambda: probe.latest("mainnet", "stats"), 15, "stats")
    assert service.pool is not None
    sessions_before = service.pool.main.sessions
    simulator.set_silent(True)
    await eventually(
        lambda: asyncio.sleep(0, service.pool is not None and service.pool.main.sessions > sessions_before),
        10,
        "the silent socket to be replaced",
    )
    simulator.set_silent(False)
    latest = await probe.latest("mainnet", "stats")
    assert latest is not None

    async def fresh_stats() -> bool:
        current = await probe.latest("mainnet", "stats")
        return current is not None and current.seq > latest.seq

    await eventually(fresh_stats, 10, "stats after the socket was replaced")


async def test_leases_drive_upstream_tracking_up_and_down(
    running_ingestor: Start, probe: RedisBackend, simulator: Simulator
) -> None:
    await running_ingestor()
    await eventually(lambda: probe.latest("mainnet", "stats"), 15, "stats")
    watched = address(1)
    await probe.renew_lease("mainnet", watched, "pod-a", ttl_s=30)
    started = time.monotonic()

    async def tracked_upstream() -> bool:
        return any(watched in c.track_addresses for c in simulator.stats().per_connection)

    await eventually(tracked_upstream, 5, "the leased address to be tracked upstream")
    assert time.monotonic() - started < 1.5
    await eventually(lambda: probe.latest("mainnet", f"address:{watched}"), 15, "activity of the address")
    await probe.release_lease("mainnet", watched, "pod-a")

    async def untracked() -> bool:
        return all(watched not in c.track_addresses for c in simulator.stats().per_connection)

    await eventually(untracked, 5, "the address to be dropped upstream")


async def test_twenty_five_addresses_use_three_sockets_of_ten_and_all_deliver(
    running_ingestor: Start, probe: RedisBackend, simulator: Simulator
) -> None:
    service = await running_ingestor()
    addresses = [address(100 + n) for n in range(25)]
    for each in addresses:
        await probe.renew_lease("mainnet", each, "pod-a", ttl_s=60)

    async def spread() -> bool:
        lists = [c.track_addresses for c in simulator.stats().per_connection if c.track_addresses]
        return sorted(len(tracked) for tracked in lists) == [5, 10, 10]

    await eventually(spread, 10, "25 addresses on 3 sockets")
    await all_deliver(probe, addresses)
    assert service.pool is not None and service.pool.rejected == []


async def test_a_track_addresses_error_lowers_the_per_socket_limit(
    ingestor_settings: Any, probe: RedisBackend, redis_url: str, key_prefix: str
) -> None:
    from shared.settings import SimSettings

    async with Simulator(SimSettings(port=0, speed=1200, tick_s=0.05, seed=3, address_limit=4)) as strict:
        settings = ingestor_settings(upstream_url=strict.ws_url, upstream_rest_url=f"{strict.http_url}/api")
        service = IngestorService(settings)
        task = asyncio.create_task(service.run())
        try:
            addresses = [address(300 + n) for n in range(9)]
            for each in addresses:
                await probe.renew_lease("mainnet", each, "pod-a", ttl_s=60)

            async def adapted() -> bool:
                lists = [c.track_addresses for c in strict.stats().per_connection if c.track_addresses]
                return sorted(len(tracked) for tracked in lists) == [1, 4, 4]

            await eventually(adapted, 10, "the pool to adapt to 4 addresses per socket")
            assert service.pool is not None and service.pool.address_limit == 4
            await all_deliver(probe, addresses)
        finally:
            service.stop()
            await asyncio.wait_for(task, 15)


async def test_garbage_and_unknown_frames_are_counted_and_survived(
    running_ingestor: Start, probe: RedisBackend, simulator: Simulator
) -> None:
    service = await running_ingestor()
    first = await eventually(lambda: probe.latest("mainnet", "stats"), 15, "stats")
    for frame in ("not json at all", '{"mempoolInfo": ', '{"unknownKey": {"a": 1}}', '{"fees": "cheap"}', "[]"):
        await simulator.inject(frame)
    metrics = service.metrics

    def counted(name: str, labels: dict[str, str] | None = None) -> float:
        value = metrics.registry.get_sample_value(name, labels or {})
        return value or 0.0

    await eventually(
        lambda: asyncio.sleep(0, counted("ingestor_parse_errors_total", {"kind": "frame"}) >= 3), 5, "parse errors"
    )
    assert counted("ingestor_unknown_keys_total") >= 1
    assert counted("ingestor_parse_errors_total", {"kind": "payload"}) >= 1

    async def newer_stats() -> Event | None:
        latest = await probe.latest("mainnet", "stats")
        return latest if latest is not None and latest.seq > first.seq else None

    await eventually(newer_stats, 10, "stats after the garbage")
    assert service.pool is not None and service.pool.main.connected
