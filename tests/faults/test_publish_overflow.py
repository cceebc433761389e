"""Publisher overflow (issue 10, finding 3): more upstream data than a slow Redis takes is paused, then marked.

100 tracked addresses (11 upstream sockets), Redis 1 s away each way through a fault proxy (a publish of
at most 256 events per 2 s round trip), and marked frames paying one of them injected into every socket
at 200/s (as ``/_sim/inject`` does; only the socket tracking the address publishes it): the publisher
cannot keep up. Upstream reads pause first; then the oldest work is dropped, and every marked
frame must either be published or lie inside the interval of a gap notice on its topic. The drops are
logged and counted.

Where a dropped frame lies is judged in ingest time, the clock of ``ts_ms`` and of gap intervals: between
the ingest times of the nearest published frames before and after it (a frame held up by backpressure is
stamped when it is read, so the simulator's send time says nothing about it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from shared.channels import Names
from shared.events import address_topic
from shared.settings import SimSettings
from simulator import Simulator
from tests.faults.helpers import Deployment, eventually, figures, scrape, wait_ready
from tests.faults.loss import CursorConsumer, activity_frame, address, lease, sim_tracked, stop_task
from tests.support.fault_proxy import FaultProxy

ADDRESSES = 100
FRAMES = 3000
RATE_PER_S = 200
REDIS_LATENCY_S = 1.0
ENV = {
    "MEMPOOL_WS_PUBLISH_QUEUE_ITEMS": "500",
    "MEMPOOL_WS_PUBLISH_PAUSE_MAX_S": "2",
    "MEMPOOL_WS_LEADER_TTL_S": "10",
    "MEMPOOL_WS_STATUS_INTERVAL_S": "1",
}
END = "e" * 64


def marked(n: int) -> str:
    """The txid of marked frame ``n``."""
    return f"{n:064x}"


async def inject(sim: Simulator, target: str, count: int, rate: float) -> None:
    """Send ``count`` marked frames paying ``target`` to every socket, ``rate`` per second."""
    started = time.monotonic()
    for n in range(count):
        await sim.inject(activity_frame(target, marked(n)))
        await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.monotonic()))


async def record(redis_url: str, channel: str, into: list[dict[str, Any]], ready: asyncio.Event) -> None:
    """Append every event published on ``channel`` to ``into``, in order."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(channel)
        ready.set()
        async for message in pubsub.listen():
            if message["type"] == "message":
                into.append(json.loads(message["data"]))
    finally:
        await pubsub.aclose()
        await client.aclose()


def silently_lost(events: list[dict[str, Any]], count: int) -> list[int]:
    """Marked frames neither published nor covered by a gap notice between their published neighbours."""
    published: dict[int, list[int]] = {}
    gaps: list[tuple[int, int]] = []
    for event in events:
        data = event["data"]
        if "gap" in data:
            gaps.append((data["gap"]["from_ts_ms"], data["gap"]["to_ts_ms"]))
            continue
        for tx in data["mempool"]:
            if tx["txid"] != END:
                published.setdefault(int(tx["txid"], 16), []).append(event["ts_ms"])
    indices = sorted(published)
    lost: list[int] = []
    for n in range(count):
        if n in published:
            continue
        before = [i for i in indices if i < n]
        after = [i for i in indices if i > n]
        # Each socket reads its copies in order, but the 11 sockets interleave: the nearest published
        # neighbours may have been read in either order, so the window is the span of their ingest times.
        times = [*published[before[-1]]] if before else [0]
        times += published[after[0]] if after else [2**63]
        start, end = min(times), max(times)
        if not any(gap_from <= end and start <= gap_to for gap_from, gap_to in gaps):
            lost.append(n)
    return lost


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_publisher_overflow_pauses_reads_then_marks_every_dropped_frame(deployment: Deployment) -> None:
    redis_port = int(deployment.redis_url.rsplit(":", 1)[1].split("/")[0])
    watched = [address(n) for n in range(ADDRESSES)]
    target = watched[0]
    channel = Names(deployment.prefix, "mainnet").channel(address_topic(target))
    events: list[dict[str, Any]] = []
    async with FaultProxy(redis_port) as proxy, Simulator(SimSettings(port=0, speed=1, tick_s=1.0, seed=3)) as sim:
        behind_proxy = Deployment(f"redis://127.0.0.1:{proxy.port}", deployment.prefix)
        behind_proxy.processes = deployment.processes
        ingest, ingest_url = behind_proxy.ingest(sim.ws_url, f"{sim.http_url}/api", env=ENV)
        _, gateway_url = deployment.gateway()
        await wait_ready(ingest_url, gateway_url)
        await lease(deployment.redis_url, deployment.prefix, watched)
        await eventually(lambda: _tracks(sim, set(watched)), 30, "100 addresses tracked upstream")
        subscribed = asyncio.Event()
        recording = asyncio.create_task(record(deployment.redis_url, channel, events, subscribed))
        await asyncio.wait_for(subscribed.wait(), 10)
        consumer = CursorConsumer(f"{gateway_url}/mcp", target, timeout_s=2)
        stop = asyncio.Event()
        consuming = asyncio.create_task(consumer.run(stop))
        proxy.latency_s = REDIS_LATENCY_S
        try:
            started = time.monotonic()
            await inject(sim, target, FRAMES, RATE_PER_S)
            injected_s = time.monotonic() - started
            await sim.inject(activity_frame(target, END))
            await eventually(lambda: _published(events, END), 60, "the end marker published")
        finally:
            stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(consuming, 10)
            await stop_task(recording)
        metrics = f"{ingest_url}/metrics"
        dropped = await scrape(metrics, "ingestor_events_dropped_total", {"reason": "overflow"})
        notices = await scrape(metrics, "ingestor_gaps_total", {"topic": "address", "reason": "overflow"})
        paused_s = await scrape(metrics, "ingestor_upstream_reads_paused_seconds_total")
    lost = silently_lost(events, FRAMES)
    published = {tx["txid"] for event in events for tx in event["data"].get("mempool", [])}
    figures(
        "publisher-overflow",
        frames=FRAMES,
        injected_s=injected_s,
        published=sum(marked(n) in published for n in range(FRAMES)),
        silently_lost=len(lost),
        gap_notices_on_topic=sum("gap" in event["data"] for event in events),
        events_dropped=dropped,
        overflow_gap_notices=notices,
        reads_paused_s=paused_s,
        consumer_calls=consumer.calls,
        consumer_gap_notices=len(consumer.gaps),
        consumer_gap_flags=consumer.gap_flags,
    )
    assert not lost, f"{len(lost)} of {FRAMES} marked frames were lost silently (first: {lost[:5]})"
    assert dropped > 0 and notices > 0, "the overflow dropped work, counted it, and marked it"
    assert paused_s > 0, "upstream reads paused before anything was dropped"
    output = ingest.output()
    assert "publish queue full: dropped" in output and "published gap notices" in output, "and logged it"
    assert consumer.gaps or consumer.gap_flags, "the cursor consumer was told it missed something"


async def _tracks(sim: Simulator, wanted: set[str]) -> bool:
    return wanted <= await sim_tracked(sim.http_url)


async def _published(events: list[dict[str, Any]], txid: str) -> bool:
    return any(tx["txid"] == txid for event in events for tx in event["data"].get("mempool", []))
