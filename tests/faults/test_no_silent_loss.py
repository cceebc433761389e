"""No silent loss across leadership changes and upstream outages (issue 10, finding 2).

A consumer loops ``track_address`` with its cursor while the simulator pays the address every second.
The leader is cut off from Redis for 12 s (it steps down, then leads again), or killed while a standby
runs. Every payment must reach the consumer or fall inside a gap it saw. And ``stats`` (sent every
tick) and ``mempool-blocks`` missed while the upstream is down are marked by a gap notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastmcp import Client
from fastmcp.exceptions import ToolError

from mcp_gateway.views import without_nulls
from shared.channels import Names
from tests.faults.helpers import Deployment, eventually, figures, http_get, scrape, until, wait_ready
from tests.faults.loss import CursorConsumer, Payer, Sent, address, sim_tracked
from tests.support.fault_proxy import FaultProxy
from tests.support.ports import free_port

PAYMENTS = 18
TICK_S = 0.5
SPEED = 1
"""A block every 10 minutes: payments are not confirmed (and so not seen again) within the scenario."""
STANDBY_ENV = {"MEMPOOL_WS_LEADER_TTL_S": "8"}
"""A lease long enough that the takeover leaves a wide blind interval to account for."""
WATCHED = address(7)


async def role(url: str) -> str:
    response = await http_get(f"{url}/readyz")
    return str(response.json().get("role")) if response is not None else "gone"


async def _consume_through(
    deployment: Deployment, sim_url: str, gateway_url: str, fault: Callable[[], Awaitable[None]]
) -> tuple[CursorConsumer, Payer]:
    consumer = CursorConsumer(f"{gateway_url}/mcp", WATCHED, timeout_s=2)
    stop = asyncio.Event()
    consuming = asyncio.create_task(consumer.run(stop))
    await eventually(lambda: _tracks(sim_url), 20, "the watched address tracked upstream")
    payer = Payer(sim_url, WATCHED, TICK_S)
    paying = asyncio.create_task(payer.run(PAYMENTS))
    try:
        await eventually(lambda: _paid(payer, 3), 10, "three payments")
        await fault()
        await paying
        with contextlib.suppress(AssertionError):  # what did not arrive by then is judged below
            await eventually(lambda: _settled(consumer, payer), 30, "the last payments received")
    finally:
        stop.set()
        paying.cancel()
        await asyncio.wait_for(consuming, 10)
    return consumer, payer


async def _tracks(sim_url: str) -> bool:
    return WATCHED in await sim_tracked(sim_url)


async def _paid(payer: Payer, count: int) -> bool:
    return len(payer.sent) >= count


async def _settled(consumer: CursorConsumer, payer: Payer) -> bool:
    return all(item.txid in consumer.txids for item in payer.sent[-2:])


def _report(label: str, consumer: CursorConsumer, payer: Payer, **extra: object) -> list[Sent]:
    lost = consumer.silently_lost(payer.sent)
    received = sum(1 for item in payer.sent if item.txid in consumer.txids)
    figures(
        label,
        payments=len(payer.sent),
        received=received,
        covered_by_gaps=len(payer.sent) - received - len(lost),
        silently_lost=len(lost),
        gap_notices=len(consumer.gaps),
        gap_flags=consumer.gap_flags,
        calls=consumer.calls,
        call_errors=consumer.errors,
        **extra,
    )
    return lost


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_leader_cut_off_from_redis_loses_no_payment_silently(deployment: Deployment) -> None:
    sim_port = free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    deployment.sim(sim_port, time.time(), speed=SPEED, tick_s=TICK_S)
    redis_port = int(deployment.redis_url.rsplit(":", 1)[1].split("/")[0])
    async with FaultProxy(redis_port) as proxy:
        behind_proxy = Deployment(f"redis://127.0.0.1:{proxy.port}", deployment.prefix)
        behind_proxy.processes = deployment.processes
        ingest, ingest_url = behind_proxy.ingest(f"ws://127.0.0.1:{sim_port}/api/v1/ws", f"{sim_url}/api")
        _, gateway_url = deployment.gateway()
        await wait_ready(ingest_url, gateway_url)

        async def cut_off() -> None:
            proxy.mode = "blackhole"
            await asyncio.sleep(12)
            proxy.mode = "pass"
            proxy.reset_all()

        consumer, payer = await _consume_through(deployment, sim_url, gateway_url, cut_off)
        dropped = await scrape(f"{ingest_url}/metrics", "ingestor_events_dropped_total")
    lost = _report("leader-cut-off", consumer, payer, events_dropped=dropped)
    assert not lost, f"{len(lost)} of {len(payer.sent)} payments were lost silently"
    assert consumer.gaps or consumer.gap_flags, "the consumer was told it may have missed something"
    assert ingest.alive()


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_killed_leader_loses_no_payment_silently(deployment: Deployment) -> None:
    sim_port = free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    deployment.sim(sim_port, time.time(), speed=SPEED, tick_s=TICK_S)
    upstream = f"ws://127.0.0.1:{sim_port}/api/v1/ws"
    first = deployment.ingest(upstream, f"{sim_url}/api", env=STANDBY_ENV)
    await wait_ready(first[1])
    second = deployment.ingest(upstream, f"{sim_url}/api", env=STANDBY_ENV)
    _, gateway_url = deployment.gateway()
    await wait_ready(second[1], gateway_url)
    assert await role(first[1]) == "leader"
    took_over: list[float] = []

    async def kill_leader() -> None:
        first[0].signal(signal.SIGKILL)
        killed = time.monotonic()
        await eventually(lambda: _leads(second[1]), 20, "the standby to lead")
        took_over.append(time.monotonic() - killed)

    consumer, payer = await _consume_through(deployment, sim_url, gateway_url, kill_leader)
    lost = _report("leader-killed", consumer, payer, takeover_s=took_over[0])
    assert not lost, f"{len(lost)} of {len(payer.sent)} payments were lost silently"
    assert consumer.gaps, "the new leader published a gap notice for the address"


async def _leads(url: str) -> bool:
    return await role(url) == "leader"


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_stats_missed_during_an_upstream_outage_are_marked(deployment: Deployment) -> None:
    sim_port = free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    deployment.sim(sim_port, time.time(), speed=SPEED, tick_s=TICK_S)
    _, ingest_url = deployment.ingest(f"ws://127.0.0.1:{sim_port}/api/v1/ws", f"{sim_url}/api")
    _, gateway_url = deployment.gateway()
    await wait_ready(ingest_url, gateway_url)
    names = Names(deployment.prefix, "mainnet")
    events: dict[str, list[dict[str, Any]]] = {"stats": [], "mempool-blocks": []}
    client = aioredis.Redis.from_url(deployment.redis_url, decode_responses=True)
    pubsub = client.pubsub()
    await pubsub.subscribe(*(names.channel(topic) for topic in events))
    listening = asyncio.create_task(_listen(pubsub, events))
    try:
        await until(lambda: len(events["stats"]) >= 3, 15, "stats")
        async with httpx.AsyncClient(timeout=5) as http:
            await http.get(f"{sim_url}/_sim/offline", params={"seconds": 3})
        await until(lambda: any("gap" in e["data"] for e in events["stats"]), 20, "a gap notice on stats")
        await until(lambda: "gap" not in events["stats"][-1]["data"], 10, "stats after the notice")
        through_gateway = await _stats_after(gateway_url, str(await client.get(names.epoch)), events["stats"])
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        await pubsub.aclose()
        await client.aclose()
    for topic, received in events.items():
        index = next(i for i, e in enumerate(received) if "gap" in e["data"])
        gap = received[index]["data"]["gap"]
        before, after = received[index - 1], received[index + 1]
        figures(f"upstream-outage-{topic}", gap=gap, silent_s=(after["ts_ms"] - before["ts_ms"]) / 1000)
        assert gap["from_ts_ms"] <= before["ts_ms"] + int(TICK_S * 1000) + 500, "from the outage's start"
        assert gap["to_ts_ms"] == after["ts_ms"], "to the first update after it"
        assert after["ts_ms"] - before["ts_ms"] >= 2500, "the notice stands in for the missed updates"
    notice = next(e["data"] for e in events["stats"] if "gap" in e["data"])
    assert through_gateway == without_nulls(notice), "an agent reads the notice through stream_stats (no nulls)"


async def _stats_after(gateway_url: str, epoch: str, received: list[dict[str, Any]]) -> dict[str, Any]:
    """The first stats event after the one before the gap notice, read with a cursor through the gateway
    (retried while the gateway still refuses calls for an upstream it saw down)."""
    before = received[next(i for i, e in enumerate(received) if "gap" in e["data"]) - 1]
    arguments = {"cursor": f"{epoch}:{before['id']}", "max_events": 1, "timeout_s": 5}

    async def read() -> dict[str, Any] | None:
        async with Client(f"{gateway_url}/mcp") as mcp:
            try:
                result = await mcp.call_tool("stream_stats", arguments)
            except ToolError:
                return None
        return dict((result.structured_content or {})["events"][0]["data"])

    return await eventually(read, 15, "stream_stats to answer", interval=0.5)


async def _listen(pubsub: Any, into: dict[str, list[dict[str, Any]]]) -> None:
    async for message in pubsub.listen():
        if message["type"] == "message":
            event = json.loads(message["data"])
            into[event["topic"]].append(event)
