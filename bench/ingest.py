"""Ingestor throughput: realistic stats frames normalized and published per second, on one core.

Three figures: the normalizer alone; the ingest pipeline (normalizer, publisher, Lua publish) driven
in this process against the real Redis; and the real ``mempool-ws ingest`` process fed as fast as it
reads by the bench upstream over its socket.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import redis.asyncio as aioredis

from bench.frames import FrameFactory
from bench.procfs import CpuWindow
from bench.stack import KEY_PREFIX, Stack
from ingestor.core import MAX_BATCH
from ingestor.metrics import IngestorMetrics
from ingestor.normalize import Normalizer
from ingestor.pipeline import IngestPipeline
from ingestor.publisher import Publisher
from shared.bus.redis import RedisBackend
from shared.channels import Names

EVENTS_PER_FRAME = 2
"""A composed stats frame becomes a ``stats`` and a ``mempool-blocks`` event."""


def normalize_rate(frames: int) -> dict[str, float]:
    """Frames per second of the normalizer alone (one thread)."""
    factory = FrameFactory()
    raws = [factory.stats(i) for i in range(frames)]
    normalizer = Normalizer("mainnet")
    started = time.perf_counter()
    for raw in raws:
        normalizer.normalize(raw, received_ms=0)
    elapsed = time.perf_counter() - started
    return {"frames": frames, "frames_per_s": frames / elapsed, "us_per_frame": elapsed / frames * 1e6}


async def pipeline_rate(redis_url: str, frames: int) -> dict[str, float]:
    """Frames per second through :class:`IngestPipeline` and a real Redis, in this process."""
    factory = FrameFactory()
    raws = [factory.stats(i) for i in range(frames)]
    backend = RedisBackend(redis_url, prefix=f"ingest-{uuid.uuid4().hex[:6]}")
    await backend.connect()
    metrics = IngestorMetrics(process_metrics=False)
    publisher = Publisher("mainnet", backend, metrics, fence=None, rest=None)
    pipeline = IngestPipeline("mainnet", publisher, metrics)
    publishing = asyncio.create_task(publisher.run())
    try:
        cpu0, started = time.process_time(), time.perf_counter()
        for raw in raws:
            await pipeline.on_frame(raw, int(time.time() * 1000), ())
            while publisher.backlog >= MAX_BATCH:
                await asyncio.sleep(0)
        while publisher.published < frames * EVENTS_PER_FRAME:
            await asyncio.sleep(0.001)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
    finally:
        publishing.cancel()
        await asyncio.gather(publishing, return_exceptions=True)
        await backend.close()
    return {"frames": frames, "frames_per_s": frames / elapsed, "cpu_cores": cpu / elapsed}


async def socket_rate(stack: Stack, frames: int) -> dict[str, Any]:
    """Frames per second through the real ingestor process, fed over its upstream socket."""
    client = aioredis.Redis.from_url(stack.redis.url)
    seq_key = Names(KEY_PREFIX, "mainnet").seq
    try:
        first = int(await client.get(seq_key) or 0)
        target = first + frames * EVENTS_PER_FRAME
        cpu = CpuWindow(stack.ingest.pid).start()
        started = time.perf_counter()
        await stack.act({"action": "bench-blast", "count": frames})
        sent_s = time.perf_counter() - started
        current, deadline = first, time.monotonic() + 60
        while current < target and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
            current = int(await client.get(seq_key) or 0)
        elapsed = time.perf_counter() - started
        share = cpu.share()
    finally:
        await client.aclose()
    published = (current - first) // EVENTS_PER_FRAME
    return {
        "frames": frames,
        "published_frames": published,
        "frames_per_s": published / elapsed,
        "upstream_send_s": sent_s,
        "ingestor_cpu_cores": share,
    }
