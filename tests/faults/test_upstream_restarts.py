"""The upstream killed (SIGKILL) and restarted 20 times while a consumer streams blocks through a gateway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Any

import httpx
import pytest
from fastmcp import Client

from mcp_gateway.client import stream
from tests.faults.helpers import Deployment, eventually, figures, scrape, until, wait_ready
from tests.support.ports import free_port

RESTARTS = 20
SPEED = 2400  # a block every 0.25 s
LONG_OUTAGE_EVERY = 7  # every 7th outage outlasts the 8-block snapshot, so blocks come back over REST


async def tip_height(sim_url: str) -> int:
    async with httpx.AsyncClient(timeout=2) as client:
        return int((await client.get(f"{sim_url}/api/blocks/tip/height")).text)


def check_blocks(events: list[dict[str, Any]]) -> tuple[list[int], list[dict[str, Any]]]:
    """Heights in order, each once, consecutive except across a gap notice that names the hole."""
    ids = [int(event["id"]) for event in events]
    assert ids == sorted(set(ids)), "event ids strictly increase: nothing repeated, nothing reordered"
    heights: list[int] = []
    gaps: list[dict[str, Any]] = []
    for event in events:
        data = event["data"]
        if "gap" in data:
            gaps.append(data["gap"])
            continue
        height = data["height"]
        if heights and height != heights[-1] + 1:
            assert height > heights[-1], f"height {height} after {heights[-1]}"
            covered = [g for g in gaps if g.get("missing_from_height") == heights[-1] + 1]
            assert covered and covered[-1]["missing_to_height"] == height - 1, f"unmarked hole before {height}"
        heights.append(height)
    return heights, gaps


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_a_consumer_sees_every_block_once_and_in_order_across_20_upstream_kills(
    deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_gateway.client")
    sim_port, anchor = free_port(), time.time()
    sim_url = f"http://127.0.0.1:{sim_port}"
    sim = deployment.sim(sim_port, anchor, speed=SPEED)
    _, ingest_url = deployment.ingest(f"ws://127.0.0.1:{sim_port}/api/v1/ws", f"{sim_url}/api")
    _, gateway_url = deployment.gateway()
    await wait_ready(ingest_url, gateway_url)

    received: list[tuple[float, dict[str, Any]]] = []

    async def consume() -> None:
        async for event in stream(Client(f"{gateway_url}/mcp"), "stream_blocks", max_events=50, timeout_s=5):
            received.append((time.monotonic(), event))

    consumer = asyncio.create_task(consume())
    recoveries: list[float] = []
    try:
        await until(lambda: bool(received), 20, "the first block at the consumer")
        for cycle in range(RESTARTS):
            await asyncio.sleep(0.35)
            sim.signal(signal.SIGKILL)
            await asyncio.to_thread(sim.wait)
            await asyncio.sleep(2.6 if cycle % LONG_OUTAGE_EVERY == LONG_OUTAGE_EVERY - 1 else 0.3)
            seen_before = len(received)
            sim = deployment.sim(sim_port, anchor, speed=SPEED)
            restarted = time.monotonic()

            def more(before: int = seen_before) -> bool:
                return len(received) > before

            await until(more, 20, "a block after restart")
            recoveries.append(received[seen_before][0] - restarted)
        target = await tip_height(sim_url)

        async def caught_up() -> bool:
            heights = [e["data"]["height"] for _, e in received if "height" in e["data"]]
            return bool(heights) and max(heights) >= target

        await eventually(caught_up, 20, f"the consumer to reach height {target}")
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
    heights, gaps = check_blocks([event for _, event in received])
    backfilled = await scrape(f"{ingest_url}/metrics", "ingestor_backfilled_blocks_total")
    reconnects = await scrape(f"{ingest_url}/metrics", "ingestor_upstream_reconnects_total")
    figures(
        "upstream-kill-x20",
        blocks=len(heights),
        first=heights[0],
        last=heights[-1],
        gap_notices=len(gaps),
        backfilled_over_rest=int(backfilled),
        reconnect_attempts=int(reconnects),
        recovery_s=recoveries,
        consumer_retries=sum("retrying" in r.getMessage() for r in caplog.records),
    )
    assert backfilled > 0, "the long outages needed the REST blocks list"
    assert gaps == [], "REST was back with the upstream, so nothing had to be given up"
