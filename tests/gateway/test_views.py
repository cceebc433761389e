"""The views, rounding and summary lines of results, through fastmcp's in-memory client on the embedded bus."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from fastmcp import Client, FastMCP

from mcp_gateway.client import stream
from mcp_gateway.gateway import Gateway
from tests.gateway.agent_checks import overly_precise, text_parts
from tests.gateway.conftest import FakeFeed

LONG = 12.451870999999999
"""A fee rate as the upstream's arithmetic leaves it."""
PROJECTED = {
    "blocks": [
        {"index": i, "size_bytes": 1_553_249, "vsize_vb": 998_989.75, "tx_count": 3529, "total_fees_sats": 1_014_608,
         "median_fee_rate": LONG / (i + 1), "fee_range": [LONG / 10 * k for k in range(1, 8)]}
        for i in range(8)
    ],
    "total_vsize_vb": 13_445_907.25,
    "next_block_median_fee_rate": LONG,
}  # fmt: skip
STATS = {
    "mempool": {"loaded": True, "tx_count": 49_312, "vsize_vb": 13_445_907, "memory_usage_bytes": 57_172_989,
                "total_fee_btc": 0.059016971234, "min_fee_rate": 0.10000000000000002, "min_relay_fee_rate": 0.1},
    "vbytes_per_second": 2586.3333333333335,
    "fees": {"fastest": LONG, "half_hour": 9.100000000000001, "hour": 1.0000000000000002, "economy": 0.123456,
             "minimum": 0.1},
    "difficulty_adjustment": {"progress_percent": 45.678912, "difficulty_change_percent": -1.2345678,
                              "remaining_blocks": 1100, "next_retarget_height": 927_360,
                              "estimated_retarget_unix_ms": 1_796_000_000_000, "time_avg_ms": 598_765.4321},
    "updated": ["mempool", "fees"],
}  # fmt: skip


def schema_of(tools: list[Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = next(tool for tool in tools if tool.name == name).output_schema
    return schema


async def test_default_results_round_every_number_to_its_unit_and_full_keeps_the_payload(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed
) -> None:
    _, client = gateway_client
    await feed.publish("mempool-blocks", PROJECTED)
    await feed.publish("stats", STATS)
    tools = await client.list_tools()
    for tool, topic_data in (("stream_mempool_blocks", PROJECTED), ("stream_stats", STATS)):
        result = await client.call_tool(tool, {"want": False})
        body = result.structured_content
        assert body is not None and overly_precise(body) == [], overly_precise(body or {})
        assert text_parts(result)[1] == body and str(LONG) not in result.content[0].text  # type: ignore[union-attr]
        full = (await client.call_tool(tool, {"want": False, "full": True})).structured_content
        assert full is not None and full["events"][0]["data"] == topic_data, "full=true: the payload as published"
        for shape in (body, full):
            jsonschema.validate(shape, schema_of(tools, tool))
    view = (await client.call_tool("stream_mempool_blocks", {"want": False})).structured_content["events"][0]["data"]  # type: ignore[index]
    assert view["next_block_median_fee_rate"] == 12.45 and view["total_vsize_vb"] == 13_445_907
    assert view["blocks"][0] == {"vsize_vb": 998_990, "tx_count": 3529, "median_fee_rate": 12.45,
                                 "fee_range": [1.25, 2.49, 3.74, 4.98, 6.23, 7.47, 8.72]}  # fmt: skip
    assert "fee_range" not in view["blocks"][1], "the default view shows the next block's fee range only"
    stats = (await client.call_tool("stream_stats", {"want": False})).structured_content["events"][0]["data"]  # type: ignore[index]
    assert stats["fees"] == {"fastest": 12.45, "half_hour": 9.1, "hour": 1.0, "economy": 0.123, "minimum": 0.1}
    mempool = {"tx_count": 49_312, "vsize_vb": 13_445_907, "total_fee_btc": 0.05901697, "min_fee_rate": 0.1}
    assert stats["mempool"] == mempool
    assert stats["vbytes_per_second"] == 2586
    assert stats["difficulty_adjustment"]["progress_percent"] == 45.68


def test_the_rounding_helpers_keep_what_matters() -> None:
    from mcp_gateway.views import fee_rate, number_text

    assert [fee_rate(value) for value in (LONG, 0.123456, 0.9999, 1.005, 250.0)] == [12.45, 0.123, 1.0, 1.0, 250.0]
    assert number_text(1e6) == "1,000,000" and number_text(1e6, grouped=False) == "1000000"
    assert number_text(1e-7) == "0.0000001" and number_text(2.5) == "2.5"


async def test_summary_lines_say_what_arrived_what_it_shows_and_how_to_continue(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed
) -> None:
    _, client = gateway_client
    await feed.block(925_001)
    pulled = await client.call_tool("stream_blocks", {"want": False})
    summary, _ = text_parts(pulled)
    cursor = pulled.structured_content["cursor"]  # type: ignore[index]
    assert summary == f"latest: block 925001, 3,000 tx, median 2 sat/vB; cursor {cursor}"

    async def mine() -> None:
        await asyncio.sleep(0.1)
        await feed.block(925_002)
        await feed.block(925_003)

    miner = asyncio.create_task(mine())
    waited = await client.call_tool("stream_blocks", {"cursor": cursor, "max_events": 2, "timeout_s": 5})
    await miner
    summary, _ = text_parts(waited)
    assert summary.startswith("2 new blocks; latest: block 925003, ") and summary.endswith(
        f"cursor {waited.structured_content['cursor']}"  # type: ignore[index]
    )
    quiet = await client.call_tool("stream_blocks", {"cursor": waited.structured_content["cursor"], "timeout_s": 0.3})  # type: ignore[index]
    summary, _ = text_parts(quiet)
    assert summary.startswith("no new blocks in 0.3 s (the upstream sends one about every 10 minutes); cursor ")
    stale = await client.call_tool("stream_blocks", {"cursor": "deadbeef:1", "timeout_s": 0.3})
    assert "events before these were missed (gap)" in text_parts(stale)[0]


async def test_an_alert_condition_reads_as_written_and_want_false_only_checks_now(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed
) -> None:
    _, client = gateway_client
    await feed.publish("mempool-blocks", PROJECTED)
    await feed.stats(fastest=LONG, vsize_vb=312_345_678)
    far = await client.call_tool("alert_when", {"metric": "next_block_median_fee", "below": 1_000_000, "want": False})
    body = far.structured_content
    assert body is not None and body["condition"] == "next_block_median_fee below 1000000" and body["triggered"]
    assert body["value"] == 12.45 and text_parts(far)[0].startswith("already true: next_block_median_fee below 1000000")
    now = await client.call_tool("alert_when", {"metric": "mempool_vsize_mb", "above": 400, "want": False})
    body = now.structured_content
    assert body is not None and not body["triggered"] and body["value"] == 312.3 and body["waited_s"] < 0.5
    assert text_parts(now)[0].startswith("not true now: mempool_vsize_mb above 400 (now 312.3 MB)")


async def test_the_stream_helper_skips_keepalive_progress(
    make_gateway: Callable[..., tuple[Gateway, FastMCP]], feed: FakeFeed
) -> None:
    await feed.status()
    _, mcp = make_gateway(keepalive_interval_s=0.1)
    messages: list[str] = []
    async with Client(mcp) as client:

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            messages.append(message or "")

        await client.call_tool("stream_blocks", {"timeout_s": 0.35}, progress_handler=on_progress)
        assert [json.loads(message)["keepalive"] for message in messages] == [True, True, True]
        items: list[dict[str, Any]] = []

        async def consume() -> None:
            async for item in stream(client, "stream_blocks", timeout_s=2):
                items.append(item)
                return

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0.5)  # several keep-alives before the block
        await feed.block(925_100)
        await asyncio.wait_for(consumer, 5)
    assert items[0]["data"]["height"] == 925_100 and items[0]["data"]["difficulty"] == 1.5e14, "the full event"
