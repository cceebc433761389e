"""True stream results (issues 10 and 11): timed_out, cursors ahead, cursors in progress, the stream() helper.

Separate sim, ingest and gateway processes on real Redis servers, real MCP clients over HTTP (fastmcp's
and the official SDK's).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastmcp import Client
from mcp import Client as SdkClient

from mcp_gateway.client import stream
from shared.settings import SimSettings
from simulator import Simulator
from tests.faults.edges import call_tool, progress_cursors, restart_empty, wait_published_since
from tests.faults.helpers import Deployment, figures, until, wait_ready
from tests.support.redis_server import RedisServer


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimSettings(port=0, speed=1200, tick_s=0.1, seed=29)) as running:
        yield running


@pytest.mark.timeout(60)
async def test_concurrent_calls_that_get_nothing_all_say_timed_out(deployment: Deployment) -> None:
    async with Simulator(SimSettings(port=0, speed=0.001, tick_s=0.5, seed=31)) as quiet:
        _, ingest_url = deployment.ingest(quiet.ws_url, f"{quiet.http_url}/api")
        _, gateway_url = deployment.gateway()
        await wait_ready(ingest_url, gateway_url)
        mcp_url = f"{gateway_url}/mcp"
        async with Client(mcp_url) as client:
            await asyncio.sleep(1.0)  # the block snapshot of the ingestor's first connection is out
            rounds = [
                await asyncio.gather(
                    *(call_tool(mcp_url, "stream_blocks", {"timeout_s": 1}, client) for _ in range(10))
                )
                for _ in range(3)
            ]
    outcomes = [outcome for round_ in rounds for outcome in round_]
    nothing = [outcome for outcome in outcomes if outcome.body is not None and not outcome.body["events"]]
    figures(
        "timed-out-flag",
        calls=len(outcomes),
        got_nothing=len(nothing),
        timed_out_false=sum(not outcome.body["timed_out"] for outcome in nothing),  # type: ignore[index]
        took_s=[outcome.seconds for outcome in outcomes[:10]],
    )
    assert all(outcome.error is None for outcome in outcomes)
    assert len(nothing) >= 20, "no block was mined in these three seconds"
    assert all(outcome.body["timed_out"] for outcome in nothing), "a call that waited its whole time timed out"  # type: ignore[index]


@pytest.mark.timeout(60)
async def test_a_cursor_ahead_of_the_newest_event_means_from_now(deployment: Deployment, sim: Simulator) -> None:
    _, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api")
    _, gateway_url = deployment.gateway()
    await wait_ready(ingest_url, gateway_url)
    mcp_url = f"{gateway_url}/mcp"
    pulled = await call_tool(mcp_url, "stream_stats", {"want": False})
    assert pulled.body is not None
    epoch, _, last = pulled.body["cursor"].partition(":")
    ahead = f"{epoch}:{int(last) + 100_000}"
    first = await call_tool(mcp_url, "stream_stats", {"cursor": ahead, "max_events": 2, "timeout_s": 10})
    assert first.body is not None
    second = await call_tool(mcp_url, "stream_stats", {"cursor": first.body["cursor"], "max_events": 2})
    figures("cursor-ahead", first_took_s=first.seconds, events=len(first.events), cursor=first.body["cursor"])
    assert not first.body["gap"], "nothing was missed: the sequence has not reached the cursor"
    assert len(first.events) == 2 and not first.body["timed_out"], "events arrive from now on"
    assert int(first.events[0]["id"]) > int(last)
    assert second.body is not None and not second.body["gap"] and len(second.events) == 2
    assert int(second.events[0]["id"]) > int(first.events[-1]["id"]), "the returned cursor resumes after them"


@pytest.mark.timeout(90)
async def test_progress_carries_the_full_cursor_so_a_bare_id_resume_shows_the_epoch_change(
    own_redis: RedisServer, sim: Simulator, key_prefix: str
) -> None:
    deployment = Deployment(own_redis.url, key_prefix)
    try:
        _, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api")
        _, gateway_url = deployment.gateway()
        await wait_ready(ingest_url, gateway_url)
        mcp_url = f"{gateway_url}/mcp"
        messages: list[str] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            messages.append(message or "")

        async with SdkClient(mcp_url) as sdk:
            result = await sdk.call_tool(
                "stream_stats", {"max_events": 3, "timeout_s": 10, "full": True}, progress_callback=on_progress
            )
        body: dict[str, Any] = result.structured_content or {}
        old_epoch = body["cursor"].split(":")[0]
        last_progress = json.loads(messages[-1])
        restarted = await restart_empty(own_redis)
        await wait_published_since(own_redis.url, key_prefix, restarted)
        full = await call_tool(mcp_url, "stream_stats", {"cursor": last_progress["cursor"], "timeout_s": 10})
        bare = await call_tool(mcp_url, "stream_stats", {"cursor": last_progress["id"], "max_events": 2})
    finally:
        await deployment.stop_all()
    parsed = [json.loads(message) for message in messages]
    figures("progress-cursor", first_message=messages[0][:80], bare_resume_cursors=progress_cursors(bare))
    assert len(parsed) == 3 and all(list(event)[0] == "cursor" for event in parsed), "cursor is the first key"
    assert [event["cursor"] for event in parsed] == [f"{old_epoch}:{event['id']}" for event in parsed]
    assert parsed[-1]["cursor"] == body["cursor"]
    assert [event["id"] for event in parsed] == [event["id"] for event in body["events"]]
    assert {key for key in parsed[0] if key != "cursor"} == set(body["events"][0]), "otherwise the event envelope"
    assert full.body is not None and full.body["gap"], "the full cursor from progress sees the restart"
    assert bare.body is not None and bare.events
    assert all(cursor.split(":")[0] != old_epoch for cursor in progress_cursors(bare)), "the new epoch shows"


@pytest.mark.timeout(90)
async def test_the_stream_helper_yields_a_gap_and_no_event_twice_across_a_redis_restart(
    own_redis: RedisServer, sim: Simulator, key_prefix: str
) -> None:
    deployment = Deployment(own_redis.url, key_prefix)
    items: list[dict[str, Any]] = []
    try:
        _, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api")
        _, gateway_url = deployment.gateway()
        await wait_ready(ingest_url, gateway_url)

        async def consume() -> None:
            client: Client[Any] = Client(f"{gateway_url}/mcp")
            async for item in stream(client, "stream_stats", max_events=4, timeout_s=3, retry_delay_s=0.1):
                items.append(item)

        consumer = asyncio.create_task(consume())
        try:
            await until(lambda: len(items) >= 12, 20, "events before the restart")
            restarted_at = time.time()
            await restart_empty(own_redis)
            await until(lambda: sum(item["ts_ms"] / 1000 > restarted_at for item in items) >= 12, 30, "events after")
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
    finally:
        await deployment.stop_all()
    gaps = [index for index, item in enumerate(items) if "gap" in item["data"]]
    events = [item for item in items if "gap" not in item["data"]]
    epochs = [item["cursor"].split(":")[0] for item in events]
    figures("helper-across-restart", items=len(items), gaps=gaps, epochs=sorted(set(epochs), key=epochs.index))
    assert len(gaps) == 1, "the restart is surfaced as one gap item"
    gap = items[gaps[0]]
    assert set(gap["data"]["gap"]) >= {"reason", "from_ts_ms", "to_ts_ms"} and gap["cursor"]
    before, after = items[: gaps[0]], items[gaps[0] + 1 :]
    assert gap["data"]["gap"]["from_ts_ms"] == before[-1]["ts_ms"]
    assert not after or gap["data"]["gap"]["to_ts_ms"] <= after[0]["ts_ms"]
    assert len({item["cursor"].split(":")[0] for item in before}) == 1
    assert len({item["cursor"].split(":")[0] for item in after}) == 1
    assert len({item["cursor"] for item in events}) == len(events), "no (epoch, id) yielded twice"
    assert len({(item["id"], item["ts_ms"]) for item in events}) == len(events), "no event yielded twice"
    for segment in (before, after):
        ids = [int(item["id"]) for item in segment]
        assert ids == sorted(set(ids)), "ids only grow within an epoch"
