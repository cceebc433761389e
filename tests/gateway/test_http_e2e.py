"""End to end over real HTTP with the official mcp SDK client: simulator → ingestor → Redis → gateways."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client

from shared.bitcoin.addresses import segwit_encode
from tests.gateway.stack import Stack, running_stack
from tests.support.redis_topologies import delete_keys
from tests.support.rr_proxy import RoundRobinProxy

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["redis", "cluster"])
async def stack(request: pytest.FixtureRequest, key_prefix: str) -> AsyncIterator[Stack]:
    """Two gateways and an ingestor on one redis-server, or on a 3-master Redis Cluster."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        data_urls = [url]
    else:
        cluster = request.getfixturevalue("redis_cluster")
        url, data_urls = cluster.url, [node.url for node in cluster.nodes]
    try:
        async with running_stack(url, key_prefix, gateways=2) as running:
            yield running
    finally:
        for data_url in data_urls:
            await delete_keys(data_url, f"{key_prefix}:*")


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    body = result.structured_content
    assert isinstance(body, dict)
    return body


async def until_data(client: Client, tool: str = "stream_stats") -> dict[str, Any]:
    """The first non-empty snapshot of ``tool`` (the service may still be starting)."""
    for _ in range(150):
        result = await client.call_tool(tool, {"want": False})
        if not result.is_error and structured(result)["events"]:
            return structured(result)
        await asyncio.sleep(0.1)
    raise AssertionError(f"{tool} never had data")


async def test_every_tool_and_resource_over_http(stack: Stack) -> None:
    async with Client(stack.mcp_url()) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert {"stream_blocks", "stream_mempool_blocks", "stream_stats", "stream_live2h", "track_address",
                "health", "alert_when"} <= tools  # fmt: skip
        for tool in ("stream_stats", "stream_mempool_blocks", "stream_blocks", "stream_live2h"):
            body = await until_data(client, tool)
            assert body["freshness"]["status"] == "ok" and body["events"][0]["data"]
            live = structured(await client.call_tool(tool, {"max_events": 1, "timeout_s": 10}))
            assert len(live["events"]) == 1 and int(live["events"][0]["id"]) > int(body["events"][0]["id"])
        health = structured(await client.call_tool("health", {}))
        assert health["status"] == "ok" and health["bus_kind"] == ("redis-cluster" if stack.cluster else "redis")
        alert = structured(await client.call_tool("alert_when", {"metric": "mempool_tx_count", "above": 0}))
        assert alert["triggered"] and alert["already_true"]
        resources = await client.list_resources()
        assert "mempool://mainnet/stats" in {str(resource.uri) for resource in resources.resources}
        read = await client.read_resource("mempool://mainnet/blocks")
        assert json.loads(read.contents[0].text)["topic"] == "blocks"  # type: ignore[union-attr]


async def test_progress_notifications_arrive_before_the_call_returns(stack: Stack) -> None:
    async with Client(stack.mcp_url(1)) as client:
        await until_data(client)
        arrivals: list[float] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            assert message is not None and json.loads(message)["topic"] == "stats"
            arrivals.append(time.monotonic())

        result = await client.call_tool(
            "stream_stats", {"max_events": 5, "timeout_s": 20}, progress_callback=on_progress
        )
        returned = time.monotonic()
        assert len(structured(result)["events"]) == 5 and len(arrivals) == 5
        assert returned - arrivals[0] > 0.2, "the first event was pushed while the call was still running"


async def test_a_cursor_from_one_pod_resumes_on_the_other_without_loss_or_repeat(stack: Stack) -> None:
    proxy = RoundRobinProxy(stack.gateways)
    await proxy.start()
    try:
        async with Client(f"{proxy.url}/mcp") as client:
            cursor = (await until_data(client))["cursor"]
            ids: list[int] = []
            while len(ids) < 12:
                body = structured(
                    await client.call_tool("stream_stats", {"cursor": cursor, "max_events": 3, "timeout_s": 10})
                )
                assert not body["gap"]
                ids += [int(event["id"]) for event in body["events"]]
                cursor = body["cursor"]
        backends_used = {backend for method, backend in proxy.routed if method == "POST"}
        assert backends_used == set(stack.gateways), "calls alternated between the two gateway processes"
        async with stack.redis() as redis:
            entries: list[tuple[str, dict[str, str]]] = await redis.xrange(
                stack.names.history("stats"), f"{ids[0]}-0", f"{ids[-1]}-0"
            )
        assert ids == [int(entry_id.split("-")[0]) for entry_id, _ in entries], "every event exactly once"
    finally:
        await proxy.stop()


async def test_a_listener_on_one_pod_hears_updates_published_through_redis(stack: Stack) -> None:
    async with Client(stack.mcp_url(0)) as client:
        await until_data(client)
        async with client.listen(resource_subscriptions=["mempool://mainnet/stats"]) as subscription:
            async with asyncio.timeout(10):
                event = await anext(aiter(subscription))
        assert str(event.uri) == "mempool://mainnet/stats"  # type: ignore[union-attr]


async def test_a_simulated_payment_is_followed_from_mempool_to_confirmation(stack: Stack) -> None:
    address = segwit_encode("bc", 0, b"\x42" * 20)
    async with Client(stack.mcp_url(1)) as client:
        cursor = None
        states: list[str] = []
        async with asyncio.timeout(60):
            while "confirmed" not in states:
                arguments: dict[str, Any] = {"address": address, "max_events": 1, "timeout_s": 20}
                if cursor:
                    arguments["cursor"] = cursor
                body = structured(await client.call_tool("track_address", arguments))
                cursor = body["cursor"]
                for event in body["events"]:
                    data = event["data"]
                    states += [kind for kind in ("mempool", "confirmed") if data.get(kind)]
        assert states.index("mempool") < states.index("confirmed")


async def test_killing_a_client_frees_its_subscription_and_lease_within_a_second(stack: Stack) -> None:
    address = segwit_encode("bc", 0, b"\x07" * 20)
    script = (
        "import asyncio, sys\nfrom mcp import Client\n"
        "async def main():\n"
        f"    async with Client({stack.mcp_url(0)!r}) as c:\n"
        f"        await c.call_tool('track_address', {{'address': {address!r}, 'timeout_s': 120}})\n"
        "asyncio.run(main())\n"
    )
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", script)
    channel, leases = stack.names.channel(f"address:{address}"), stack.names.leases

    async def subscribed() -> int:
        return await stack.subscribers(redis, channel)

    async def leased() -> bool:
        members: list[str] = await redis.zrange(leases, 0, -1)
        return any(member.startswith(address) for member in members)

    async with stack.redis() as redis:
        try:
            async with asyncio.timeout(20):
                while not (await subscribed() and await leased()):
                    await asyncio.sleep(0.05)
            process.kill()
            killed = time.monotonic()
            state: tuple[int, bool] = (-1, True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    while (state := (await subscribed(), await leased())) != (0, False):
                        await asyncio.sleep(0.02)
            assert state == (0, False), f"(subscribers, leased) 5 s after the kill: {state}"
            assert time.monotonic() - killed < 1.0
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()


async def test_the_stdio_transport_works_from_a_spawned_process() -> None:
    from mcp import StdioServerParameters

    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mempool_ws.cli", "serve", "--transport", "stdio", "--upstream-url", "sim", "--sim-speed", "600"],
        env={"MEMPOOL_WS_LOG_LEVEL": "WARNING", "PATH": "/usr/bin:/bin"},
    )
    async with Client(parameters) as client:
        body = await until_data(client)
        assert body["events"][0]["data"]["fees"]["fastest"] > 0
        blocks = structured(await client.call_tool("stream_blocks", {"max_events": 1, "timeout_s": 20}))
        assert blocks["events"][0]["data"]["height"] > 0
        health = structured(await client.call_tool("health", {}))
        assert health["bus_kind"] == "embedded" and health["status"] == "ok"
