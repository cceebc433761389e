"""The stream() client helper: live yields, cursor loops, restarts of the gateway process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis.asyncio as aioredis
from fastmcp import Client
from fastmcp.exceptions import ToolError

from mcp_gateway.client import stream
from mcp_gateway.gateway import Gateway
from tests.gateway.conftest import FakeFeed
from tests.gateway.stack import running_stack, wait_ready
from tests.support.processes import ServiceProcess


async def test_events_are_yielded_as_they_arrive_across_many_calls(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed
) -> None:
    _, client = gateway_client
    received: list[tuple[float, int]] = []

    async def consume() -> None:
        async for event in stream(client, "stream_blocks", max_events=2, timeout_s=5):
            received.append((time.monotonic(), event["data"]["height"]))
            if len(received) == 5:
                return

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    published_at = []
    for height in range(1, 6):
        await feed.block(height)
        published_at.append(time.monotonic())
        await asyncio.sleep(0.15)
    await asyncio.wait_for(consumer, 10)
    assert [height for _, height in received] == [1, 2, 3, 4, 5]
    assert all(got - sent < 0.1 for (got, _), sent in zip(received, published_at, strict=True))


async def test_bad_parameters_are_raised_not_retried(gateway_client: tuple[Gateway, Client[Any]]) -> None:
    _, client = gateway_client
    with pytest.raises(ToolError, match="address"):
        async for _ in stream(client, "track_address", address="not-an-address"):
            pass


@pytest.mark.timeout(90)
async def test_the_helper_survives_a_gateway_restart_without_losing_events(
    redis_url: str, key_prefix: str, redis_cleanup: None
) -> None:
    async with running_stack(redis_url, key_prefix, gateways=1) as stack:
        gateway = stack.processes[1]
        ids: list[int] = []

        async def consume() -> None:
            async with Client(stack.mcp_url()) as client:
                async for event in stream(client, "stream_stats", max_events=5, timeout_s=10, retry_delay_s=0.2):
                    ids.append(int(event["id"]))

        consumer = asyncio.create_task(consume())
        try:
            while len(ids) < 10:
                await asyncio.sleep(0.05)
            gateway.stop()
            await asyncio.sleep(1.0)
            restarted = ServiceProcess(gateway.args[3:], env=None).start()
            stack.processes.append(restarted)
            await wait_ready(f"{stack.gateways[0]}/readyz")
            count = len(ids)
            while len(ids) < count + 10:
                await asyncio.sleep(0.05)
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
        redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            entries: list[tuple[str, dict[str, str]]] = await redis.xrange(  # type: ignore[assignment]
                f"{key_prefix}:mainnet:stats:history", f"{ids[0]}-0", f"{ids[-1]}-0"
            )
        finally:
            await redis.aclose()
        assert ids == [int(entry_id.split("-")[0]) for entry_id, _ in entries], "no event lost or repeated"
