"""Every tool through fastmcp's in-memory Client, over the embedded bus."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from mcp_gateway.gateway import Gateway
from shared.bitcoin.addresses import segwit_encode
from tests.gateway.conftest import FakeFeed

ADDRESS = segwit_encode("bc", 0, bytes(range(20)))
STREAM_TOOLS = ("stream_blocks", "stream_mempool_blocks", "stream_stats", "stream_live2h")


async def test_the_six_tools_of_the_design_plus_the_alert_are_listed_with_schemas(
    gateway_client: tuple[Gateway, Client[Any]],
) -> None:
    _, client = gateway_client
    tools = {tool.name: tool for tool in await client.list_tools()}
    assert set(tools) == {*STREAM_TOOLS, "track_address", "track_tx", "health", "alert_when"}
    for name in STREAM_TOOLS:
        schema = tools[name].input_schema
        assert list(schema["properties"])[0] == "want" and schema["properties"]["want"]["default"] is True
        assert schema["properties"]["max_events"]["maximum"] == 500
        output_schema, annotations = tools[name].output_schema, tools[name].annotations
        assert output_schema is not None and "cursor" in output_schema["properties"]
        assert annotations is not None and annotations.read_only_hint
        assert "cursor" in (tools[name].description or "")
    assert list(tools["track_address"].input_schema["properties"])[0] == "address"
    assert list(tools["track_tx"].input_schema["properties"])[0] == "txid"
    assert tools["health"].output_schema is not None


async def test_want_false_returns_the_latest_snapshot_at_once(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed
) -> None:
    _, client = gateway_client
    await feed.stats(fastest=3.0)
    latest = await feed.stats(fastest=4.5)
    started = time.monotonic()
    result = await client.call_tool("stream_stats", {"want": False})
    assert time.monotonic() - started < 5, "no waiting: a wait would last the default timeout_s (30 s)"
    body = result.structured_content
    assert body is not None
    assert [event["id"] for event in body["events"]] == [latest.id]
    assert body["events"][0]["data"]["fees"]["fastest"] == 4.5
    assert body["cursor"].endswith(f":{latest.id}") and body["freshness"]["status"] == "ok"


async def test_blocks_arrive_as_progress_notifications_before_the_call_returns(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed
) -> None:
    _, client = gateway_client
    notified: list[tuple[float, str]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notified.append((time.monotonic(), message or ""))

    async def mine() -> None:
        await asyncio.sleep(0.2)
        await feed.block(900_001)
        await asyncio.sleep(0.4)
        await feed.block(900_002)

    miner = asyncio.create_task(mine())
    result = await client.call_tool("stream_blocks", {"max_events": 2, "timeout_s": 5}, progress_handler=on_progress)
    returned = time.monotonic()
    await miner
    body = result.structured_content
    assert body is not None
    assert [event["data"]["height"] for event in body["events"]] == [900_001, 900_002]
    assert [json.loads(message)["data"]["height"] for _, message in notified] == [900_001, 900_002]
    assert returned - notified[0][0] > 0.3, "the first block was pushed well before the call returned"
    assert not body["timed_out"] and not body["gap"]


async def test_the_cursor_resumes_without_loss_or_repetition(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed
) -> None:
    _, client = gateway_client
    await feed.stats(fastest=0.5)
    first = await client.call_tool("stream_stats", {"want": False})
    cursor = first.structured_content["cursor"]  # type: ignore[index]
    published = [await feed.stats(fastest=float(n)) for n in range(1, 8)]
    seen: list[str] = []
    while len(seen) < len(published):
        page = await client.call_tool("stream_stats", {"cursor": cursor, "max_events": 3, "timeout_s": 2})
        body = page.structured_content
        assert body is not None and not body["gap"]
        seen += [event["id"] for event in body["events"]]
        cursor = body["cursor"]
    assert seen == [event.id for event in published]
    empty = await client.call_tool("stream_stats", {"cursor": cursor, "timeout_s": 0.3})
    assert empty.structured_content["events"] == [] and empty.structured_content["timed_out"]  # type: ignore[index]


async def test_a_cursor_outside_the_window_or_from_another_epoch_reports_a_gap(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed
) -> None:
    _, client = gateway_client
    old = await feed.stats(fastest=1.0)
    for n in range(30):
        await feed.stats(fastest=2.0 + n)
    result = await client.call_tool("stream_stats", {"cursor": old.id, "max_events": 100, "timeout_s": 1})
    body = result.structured_content
    assert body is not None and body["gap"] and len(body["events"]) == 20
    stale = await client.call_tool("stream_stats", {"cursor": f"deadbeef:{old.id}", "timeout_s": 0.3})
    assert stale.structured_content["gap"] and stale.structured_content["events"] == []  # type: ignore[index]


@pytest.mark.parametrize(
    ("tool", "arguments", "fragment"),
    [
        ("stream_stats", {"max_events": 0}, "max_events must be a whole number from 1 to 500 .got 0."),
        ("stream_stats", {"max_events": 501}, "max_events must be a whole number from 1 to 500"),
        ("stream_blocks", {"timeout_s": 10_000}, "timeout_s must be a number above 0 and at most 300"),
        ("stream_blocks", {"timeout_s": -1}, "timeout_s must be a number above 0"),
        ("stream_blocks", {"network": "liquid"}, "mainnet"),
        ("stream_blocks", {"cursor": "yesterday"}, "cursor must be"),
        ("track_address", {"address": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5"}, "checksum"),
        ("track_address", {"address": "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"}, "network mainnet"),
        ("track_address", {"address": "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\n"}, "control characters"),
        ("track_address", {"address": ""}, "address must be text of 1 to 200 characters"),
        ("alert_when", {"metric": "fee_fastest"}, "exactly one of above or below"),
        ("alert_when", {"metric": "moon_phase", "above": 1}, "mempool_vsize_mb"),
    ],
)
async def test_bad_parameters_get_clear_errors(
    gateway_client: tuple[Gateway, Client[Any]], tool: str, arguments: dict[str, Any], fragment: str
) -> None:
    _, client = gateway_client
    with pytest.raises(ToolError, match=fragment):
        await client.call_tool(tool, arguments)


async def test_alert_answers_at_once_when_the_condition_already_holds(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed
) -> None:
    _, client = gateway_client
    await feed.stats(fastest=2.0, vsize_vb=320_000_000)
    result = await client.call_tool("alert_when", {"metric": "mempool_vsize_mb", "above": 300})
    body = result.structured_content
    assert body is not None and body["triggered"] and body["already_true"] and body["value"] == 320.0


async def test_alert_waits_for_the_crossing_and_ignores_values_short_of_it(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed
) -> None:
    _, client = gateway_client
    await feed.stats(fastest=8.0)

    async def drift() -> None:
        for fastest in (6.0, 4.0, 1.5):
            await asyncio.sleep(0.1)
            await feed.stats(fastest=fastest)

    task = asyncio.create_task(drift())
    result = await client.call_tool("alert_when", {"metric": "fee_fastest", "below": 2, "timeout_s": 5})
    await task
    body = result.structured_content
    assert body is not None and body["triggered"] and not body["already_true"] and body["value"] == 1.5
    quiet = await client.call_tool(
        "alert_when", {"metric": "fee_fastest", "below": 1, "timeout_s": 0.3, "cursor": body["cursor"]}
    )
    assert quiet.structured_content["triggered"] is False  # type: ignore[index]


async def test_health_reports_ok_then_degraded_then_down(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed, backend: Any
) -> None:
    _, client = gateway_client
    await feed.stats(fastest=2.0)
    healthy = (await client.call_tool("health", {})).structured_content
    assert healthy is not None and healthy["status"] == "ok" and healthy["bus"] == "ok"
    ages = {topic["topic"]: topic.get("age_s") for topic in healthy["topics"]}
    assert ages["stats"] is not None and "blocks" in ages and ages["blocks"] is None, "an unknown age is left out"
    await feed.status(connected=False, age_s=200)
    await asyncio.sleep(0.6)
    degraded = (await client.call_tool("health", {})).structured_content
    assert degraded is not None and degraded["status"] == "degraded"
    assert any("disconnected" in reason for reason in degraded["reasons"])
    pulled = (await client.call_tool("stream_stats", {"want": False})).structured_content
    assert pulled is not None and pulled["events"], "the last snapshot is served, marked degraded"
    assert pulled["freshness"]["status"] == "degraded" and pulled["freshness"]["reasons"] == degraded["reasons"]
    down = (await client.call_tool("health", {"network": "signet"})).structured_content
    assert down is not None and down["status"] == "down" and "does not serve signet" in down["reasons"][0]
    with pytest.raises(ToolError, match="does not serve signet, only mainnet"):
        await client.call_tool("stream_stats", {"network": "signet"})


async def test_streams_beyond_the_process_limit_get_a_clear_busy_error(make_gateway: Any, feed: FakeFeed) -> None:
    await feed.status()
    gateway, mcp = make_gateway(max_concurrent_streams=2)
    async with Client(mcp) as client:
        waiting = [asyncio.create_task(client.call_tool("stream_blocks", {"timeout_s": 3})) for _ in range(2)]
        while gateway.active_streams < 2:
            await asyncio.sleep(0.01)
        with pytest.raises(ToolError, match="busy"):
            await client.call_tool("stream_stats", {"timeout_s": 1})
        await feed.block(1)
        await asyncio.gather(*waiting)
    assert gateway.metrics.registry.get_sample_value("gateway_busy_rejections_total", {"limit": "streams"}) == 1


async def test_track_address_leases_streams_and_releases_at_once_when_cancelled(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed, backend: Any
) -> None:
    gateway, client = gateway_client
    call = asyncio.create_task(client.call_tool("track_address", {"address": ADDRESS.upper(), "timeout_s": 30}))
    while ADDRESS not in await backend.leased_addresses("mainnet"):
        await asyncio.sleep(0.01)
    assert gateway.hub.channels == [f"mempool:mainnet:address:{ADDRESS}"]
    call.cancel()
    cancelled_at = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await call
    while gateway.hub.channels or ADDRESS in await backend.leased_addresses("mainnet"):
        assert time.monotonic() - cancelled_at < 1.0, "subscription and lease freed within a second"
        await asyncio.sleep(0.01)


async def test_track_address_delivers_activity_and_keeps_the_lease_between_calls(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed, backend: Any
) -> None:
    _, client = gateway_client
    activity = {"address": ADDRESS, "mempool": [{"txid": "ab" * 32, "received_sats": 5000, "sent_sats": 0,
                "net_sats": 5000, "confirmed": False}], "confirmed": [], "removed": []}  # fmt: skip

    async def pay() -> None:
        while ADDRESS not in await backend.leased_addresses("mainnet"):
            await asyncio.sleep(0.01)
        await feed.publish(f"address:{ADDRESS}", activity)

    task = asyncio.create_task(pay())
    result = await client.call_tool("track_address", {"address": ADDRESS, "max_events": 1, "timeout_s": 5})
    await task
    body = result.structured_content
    assert body is not None and body["events"][0]["data"]["mempool"][0]["net_sats"] == 5000
    assert ADDRESS in await backend.leased_addresses("mainnet"), "the lease lingers for the next call"


async def test_track_address_refuses_beyond_capacity(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed, backend: Any
) -> None:
    _, client = gateway_client
    await feed.status(capacity=1)
    await backend.renew_lease("mainnet", segwit_encode("bc", 0, bytes(20)), "other-pod", 60)
    await asyncio.sleep(0.6)
    with pytest.raises(ToolError, match="capacity"):
        await client.call_tool("track_address", {"address": ADDRESS, "timeout_s": 1})


async def test_resources_serve_snapshots_and_address_history(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed
) -> None:
    _, client = gateway_client
    event = await feed.stats(fastest=7.0)
    uris = {str(resource.uri) for resource in await client.list_resources()}
    assert "mempool://mainnet/stats" in uris and "mempool://mainnet/blocks" in uris
    templates = {template.uri_template for template in await client.list_resource_templates()}
    assert templates == {
        "mempool://{network}/{topic}",
        "mempool://{network}/address/{address}",
        "mempool://{network}/tx/{txid}",
    }
    [content] = await client.read_resource("mempool://mainnet/stats")
    assert json.loads(content.text)["id"] == event.id  # type: ignore[union-attr]
    await feed.publish(f"address:{ADDRESS}", {"address": ADDRESS, "mempool": [], "confirmed": [], "removed": []})
    [history] = await client.read_resource(f"mempool://mainnet/address/{ADDRESS}")
    assert json.loads(history.text)[0]["topic"] == f"address:{ADDRESS}"  # type: ignore[union-attr]
    with pytest.raises(Exception, match="no blocks event on mainnet yet"):
        await client.read_resource("mempool://mainnet/blocks")
