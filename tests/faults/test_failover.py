"""Failover with blocks lost for good: the standby leads within 15 s and marks the hole it cannot fill.

Takeover without loss (the snapshot covers the missed blocks) is in ``tests/ingestor/test_processes.py``.
Here the chain runs fast (a block every 0.1 s) and no REST backfill is reachable, so the blocks mined
while nobody led cannot all come back: the new leader must say so with a gap notice on ``blocks``.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.faults.helpers import Deployment, eventually, figures, http_get, wait_ready
from tests.faults.test_upstream_restarts import check_blocks
from tests.support.ports import free_port


async def role(url: str) -> str:
    response = await http_get(f"{url}/readyz")
    return str(response.json().get("role")) if response is not None else "gone"


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_the_standby_takes_over_and_marks_blocks_it_could_not_recover(deployment: Deployment) -> None:
    sim_port, dead_rest = free_port(), f"http://127.0.0.1:{free_port()}/api"
    deployment.sim(sim_port, time.time(), speed=6000, tick_s=0.2)
    upstream = f"ws://127.0.0.1:{sim_port}/api/v1/ws"
    replicas = [deployment.ingest(upstream, dead_rest) for _ in range(2)]
    await wait_ready(*(url for _, url in replicas))
    redis = aioredis.Redis.from_url(deployment.redis_url, decode_responses=True)
    history = f"{deployment.prefix}:mainnet:blocks:history"

    async def blocks() -> list[dict[str, Any]]:
        entries: list[tuple[str, dict[str, str]]] = await redis.xrange(history)  # type: ignore[assignment]
        return [json.loads(fields["e"]) for _, fields in entries]

    try:
        await eventually(lambda: _count_at_least(blocks, 10), 20, "ten blocks published")
        roles = [await role(url) for _, url in replicas]
        leader = roles.index("leader")
        survivor_url = replicas[1 - leader][1]
        before = len(await blocks())
        replicas[leader][0].signal(signal.SIGKILL)
        killed = time.monotonic()
        await eventually(lambda: _is_leader(survivor_url), 15, "the standby to lead")
        await eventually(lambda: _count_at_least(blocks, before + 5), 15, "blocks from the new leader")
        takeover_s = time.monotonic() - killed
        events = await blocks()
    finally:
        await redis.aclose()
    heights, gaps = check_blocks(events)
    missing = sum(g["missing_to_height"] - g["missing_from_height"] + 1 for g in gaps)
    figures(
        "failover-gap",
        takeover_s=takeover_s,
        blocks=len(heights),
        gap_notices=len(gaps),
        heights_marked_missing=missing,
        first_gap=gaps[0] if gaps else None,
    )
    assert takeover_s < 15
    assert len(gaps) == 1 and missing > 0, "the hole left by the failover is marked, once"
    assert gaps[0]["reason"], "the notice says why"


async def _count_at_least(read: Callable[[], Awaitable[list[dict[str, Any]]]], count: int) -> bool:
    return len(await read()) >= count


async def _is_leader(url: str) -> bool:
    return await role(url) == "leader"
