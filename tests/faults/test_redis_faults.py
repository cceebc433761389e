"""Redis faults: restarted mid-stream, unreachable at start, slow. Every process recovers on its own."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from fastmcp import Client
from fastmcp.exceptions import ToolError

from mcp_gateway.client import stream
from shared.bus.redis import RedisBackend
from shared.settings import SimSettings
from simulator import Simulator
from tests.faults.helpers import (
    Deployment,
    eventually,
    figures,
    http_get,
    percentile,
    status_of,
    until,
    wait_ready,
)
from tests.support.fault_proxy import FaultProxy
from tests.support.redis_server import RedisServer


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimSettings(port=0, speed=1200, tick_s=0.1, seed=13)) as running:
        yield running


async def published_after(url: str, prefix: str, since: float) -> bool:
    """Whether the stats of ``prefix`` were published after ``since`` (Unix s) on the Redis at ``url``."""
    client = aioredis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=0.5)
    try:
        raw = str(await client.get(f"{prefix}:mainnet:stats:latest") or "")
    except (aioredis.RedisError, OSError):
        return False
    finally:
        await client.aclose()
    return bool(raw) and '"ts_ms":' in raw and int(raw.split('"ts_ms":')[1].split(",", maxsplit=1)[0]) / 1000 > since


async def call_outcome(url: str, tool: str, arguments: dict[str, Any]) -> tuple[str, float, str]:
    """Call ``tool`` once; return (``result`` | ``error``, seconds taken, error text)."""
    started = time.monotonic()
    try:
        async with Client(url) as client:
            result = await client.call_tool(tool, arguments)
        gap = bool(result.structured_content and result.structured_content.get("gap"))
        return ("gap" if gap else "result"), time.monotonic() - started, ""
    except ToolError as exc:
        return "error", time.monotonic() - started, str(exc)


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_a_redis_restart_mid_stream_recovers_on_its_own_and_no_call_hangs(
    own_redis: RedisServer, sim: Simulator, key_prefix: str
) -> None:
    deployment = Deployment(own_redis.url, key_prefix)
    try:
        _, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api")
        _, gateway_url = deployment.gateway()
        await wait_ready(ingest_url, gateway_url)
        mcp_url = f"{gateway_url}/mcp"
        received: list[tuple[float, dict[str, Any]]] = []

        async def consume() -> None:
            async for event in stream(Client(mcp_url), "stream_stats", max_events=20, timeout_s=3):
                received.append((time.monotonic(), event))

        consumer = asyncio.create_task(consume())
        await until(lambda: len(received) > 5, 20, "stats at the consumer")
        async with Client(mcp_url) as client:
            before = (await client.call_tool("stream_stats", {"want": False})).structured_content
        assert before is not None
        in_flight = [
            asyncio.create_task(call_outcome(mcp_url, tool, {"timeout_s": 6, "max_events": 500}))
            for tool in ("stream_stats", "stream_blocks", "stream_mempool_blocks")
        ]
        await asyncio.sleep(0.5)
        await asyncio.to_thread(own_redis.kill)
        killed_at = time.monotonic()
        await asyncio.sleep(2)
        assert await status_of(f"{gateway_url}/readyz") == 503
        assert await status_of(f"{ingest_url}/readyz") == 503
        await asyncio.to_thread(own_redis.start)
        started_at, started_unix = time.monotonic(), time.time()
        await eventually(lambda: published_after(own_redis.url, key_prefix, started_unix), 20, "publishing again")
        ingest_back = time.monotonic() - started_at
        await wait_ready(ingest_url, gateway_url)
        probes_back = time.monotonic() - started_at
        seen = len(received)
        await until(lambda: len(received) > seen, 20, "the consumer to receive again")
        consumer_back = received[seen][0] - started_at
        outcomes = await asyncio.gather(*in_flight)
        resumed = await call_outcome(mcp_url, "stream_stats", {"cursor": before["cursor"], "timeout_s": 2})
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        logs = deployment.output()
    finally:
        await deployment.stop_all()
    figures(
        "redis-restart",
        down_s=started_at - killed_at,
        ingestor_publishing_after_s=ingest_back,
        probes_ready_after_s=probes_back,
        consumer_receiving_after_s=consumer_back,
        in_flight=[f"{kind} in {taken:.1f}s {text}" for kind, taken, text in outcomes],
        old_cursor=resumed[0],
        events_at_consumer=len(received),
    )
    for kind, taken, text in outcomes:
        assert taken < 6 + 5, "an in-flight call ends within its timeout plus a short grace"
        assert kind != "error" or "retry" in text, f"an error says what to do: {text}"
    assert resumed[0] == "gap", "a cursor from before the restart (empty Redis, new epoch) is told it has a gap"
    ids = [int(event["id"]) for _, event in received]
    restarts = [i for i in range(1, len(ids)) if ids[i] <= ids[i - 1]]
    assert len(restarts) <= 1, "ids only start over once: the empty Redis began a new epoch"
    for segment in (ids[: restarts[0]], ids[restarts[0] :]) if restarts else (ids,):
        assert segment == sorted(set(segment)), "within an epoch the consumer never sees an event twice"
    assert "Traceback" not in logs


@pytest.mark.timeout(60)
async def test_processes_started_without_redis_wait_not_ready_and_come_up_with_it(
    sim: Simulator, key_prefix: str
) -> None:
    server = RedisServer()
    deployment = Deployment(server.url, key_prefix)
    try:
        _, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api")
        _, gateway_url = deployment.gateway()
        for url in (ingest_url, gateway_url):

            async def not_ready(url: str = url) -> bool:
                return await _answers_503(f"{url}/readyz")

            await eventually(not_ready, 15, f"{url} up and not ready")
        await asyncio.sleep(3)
        statuses = [await status_of(f"{url}/readyz") for url in (ingest_url, gateway_url)]
        assert statuses == [503, 503], "still waiting, still honest"
        assert all(process.alive() for process in deployment.processes)
        await asyncio.to_thread(server.start)
        started_at = time.monotonic()
        await wait_ready(ingest_url, gateway_url)
        ready_s = time.monotonic() - started_at
        async with Client(f"{gateway_url}/mcp") as client:
            result = await eventually(lambda: _stats_with_data(client), 15, "stats through the gateway")
        served_s = time.monotonic() - started_at
    finally:
        await deployment.stop_all()
        await asyncio.to_thread(server.cleanup)
    figures("redis-absent-at-start", waited_s=3.0, ready_after_redis_s=ready_s, first_data_after_redis_s=served_s)
    assert result["freshness"]["status"] == "ok"


def _stats_stream(client: Client[Any]) -> AsyncGenerator[dict[str, Any], None]:
    return cast(AsyncGenerator[dict[str, Any], None], stream(client, "stream_stats", max_events=10, timeout_s=5))


async def _answers_503(url: str) -> bool:
    return await status_of(url) == 503


async def _stats_with_data(client: Client[Any]) -> dict[str, Any] | None:
    try:
        body = (await client.call_tool("stream_stats", {"want": False})).structured_content
    except ToolError:
        return None
    return body if body and body["events"] else None


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_a_slow_redis_slows_delivery_by_its_latency_and_breaks_nothing(
    own_redis: RedisServer, sim: Simulator, key_prefix: str
) -> None:
    async with FaultProxy(own_redis.port) as proxy:
        deployment = Deployment(f"redis://127.0.0.1:{proxy.port}/0", key_prefix)
        try:
            _, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api")
            _, gateway_url = deployment.gateway()
            await wait_ready(ingest_url, gateway_url)
            lags: dict[float, list[float]] = {}
            ids: list[int] = []
            async with Client(f"{gateway_url}/mcp") as client:
                await eventually(lambda: _stats_with_data(client), 15, "stats")
                for latency in (0.0, 0.02, 0.1):
                    proxy.latency_s = latency
                    await asyncio.sleep(latency * 4)
                    lags[latency] = []
                    async with contextlib.aclosing(_stats_stream(client)) as events:
                        async for event in events:
                            lags[latency].append(time.time() - event["ts_ms"] / 1000)
                            ids.append(int(event["id"]))
                            if len(lags[latency]) == 25:
                                break
            probes = [await http_get(f"{url}/readyz") for url in (ingest_url, gateway_url)]
            logs = deployment.output()
        finally:
            await deployment.stop_all()
    figures(
        "redis-slow",
        **{f"lag_p50_s_at_{int(lat * 1000)}ms": percentile(v, 50) for lat, v in lags.items()},
        **{f"lag_p95_s_at_{int(lat * 1000)}ms": percentile(v, 95) for lat, v in lags.items()},
        readyz=[(probe.status_code, probe.json()["reasons"]) if probe else None for probe in probes],
    )
    assert [probe.status_code if probe else 0 for probe in probes] == [200, 200], "a slow Redis still works"
    assert all(len(values) == 25 for values in lags.values())
    assert len(ids) == len(set(ids))
    assert "unreachable" not in logs


@pytest.mark.timeout(30)
async def test_channels_subscribed_while_the_pubsub_connection_opens_are_not_lost(own_redis: RedisServer) -> None:
    async with FaultProxy(own_redis.port) as proxy:
        proxy.latency_s = 0.02  # widens the window in which the reader opens its connection
        backend = RedisBackend(f"redis://127.0.0.1:{proxy.port}/0", prefix="race")
        await backend.connect()
        channels = [f"race:mainnet:c{n}" for n in range(30)]
        try:
            subscribing = []
            for channel in channels:
                subscribing.append(asyncio.create_task(backend.subscribe(channel)))
                await asyncio.sleep(0.005)
            await asyncio.gather(*subscribing)
            client = aioredis.Redis.from_url(own_redis.url, decode_responses=True)
            try:
                counts = dict(await client.pubsub_numsub(*channels))
            finally:
                await client.aclose()
        finally:
            await backend.close()
    assert [channel for channel in channels if counts[channel] != 1] == []
