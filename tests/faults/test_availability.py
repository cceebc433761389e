"""Serve what can be served, refuse only what cannot (issue 11): separate processes, real Redis, real clients.

A waiting call is never refused for a transient state (Redis restarted empty, no ingestor yet, the first
second of ``serve``); an unserved network is refused at once with the networks that are served; ``health``,
``/readyz`` and admission say the same thing, also while Redis is out of memory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastmcp import Client

from shared.bitcoin.addresses import segwit_encode
from shared.settings import SimSettings
from simulator import Simulator
from tests.faults.edges import Outcome, call_tool, error_lines, wait_published_since
from tests.faults.helpers import Deployment, eventually, figures, http_get, scrape, wait_ready
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess
from tests.support.redis_server import RedisServer

RESTARTS = 20
TESTNET4_ADDRESS = segwit_encode("tb", 0, bytes(range(20)))


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimSettings(port=0, speed=1200, tick_s=0.1, seed=23)) as running:
        yield running


async def readyz(url: str) -> tuple[int, dict[str, Any]]:
    """Status code and body of ``{url}/readyz``."""
    response = await http_get(f"{url}/readyz")
    assert response is not None, "the gateway answers its readiness probe"
    return response.status_code, response.json()


@pytest.mark.timeout(150)
async def test_waiting_calls_are_never_refused_across_20_redis_restarts(
    own_redis: RedisServer, sim: Simulator, key_prefix: str
) -> None:
    deployment = Deployment(own_redis.url, key_prefix)
    outcomes: list[tuple[str, Outcome]] = []
    started = time.monotonic()
    try:
        _, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api")
        _, gateway_url = deployment.gateway()
        await wait_ready(ingest_url, gateway_url)
        mcp_url = f"{gateway_url}/mcp"
        async with Client(mcp_url) as client:

            def waiting(when: str, max_events: int) -> asyncio.Task[tuple[str, Outcome]]:
                async def run() -> tuple[str, Outcome]:
                    arguments = {"timeout_s": 20, "max_events": max_events}
                    return when, await call_tool(mcp_url, "stream_stats", arguments, client)

                return asyncio.create_task(run())

            for _ in range(RESTARTS):
                calls = [waiting("across the restart", 8)]
                await asyncio.sleep(0.2)
                await asyncio.to_thread(own_redis.kill)
                calls.append(waiting("while Redis is down", 1))
                await asyncio.to_thread(own_redis.start)
                back = time.time()
                for pause in (0.0, 0.2, 0.3):
                    await asyncio.sleep(pause)
                    calls.append(waiting("after the restart", 1))
                outcomes += await asyncio.gather(*calls)
                await wait_published_since(own_redis.url, key_prefix, back)
        refusals = await scrape(f"{gateway_url}/metrics", "gateway_refusals_total")
    finally:
        await deployment.stop_all()
    refused = [(when, outcome.error) for when, outcome in outcomes if outcome.error is not None]
    empty = [when for when, outcome in outcomes if outcome.error is None and not outcome.events]
    figures(
        "redis-restarts-waiting-calls",
        restarts=RESTARTS,
        calls=len(outcomes),
        refused=len(refused),
        returned_empty=len(empty),
        slowest_call_s=max(outcome.seconds for _, outcome in outcomes),
        total_s=time.monotonic() - started,
    )
    assert not refused, f"waiting calls refused: {refused[:3]}"
    assert not empty, f"every call returns events once the ingestor publishes again: {empty[:3]}"
    assert refusals == 0


@pytest.mark.timeout(90)
async def test_a_gateway_started_before_any_ingestor_waits_and_serves_once_one_publishes(
    deployment: Deployment, sim: Simulator
) -> None:
    _, gateway_url = deployment.gateway()
    await wait_ready(gateway_url)
    mcp_url = f"{gateway_url}/mcp"
    ready_before = await readyz(gateway_url)
    health_before = await call_tool(mcp_url, "health", {})
    pulled = await call_tool(mcp_url, "stream_stats", {"want": False})
    calls = [
        asyncio.create_task(call_tool(mcp_url, tool, arguments))
        for tool, arguments in (
            ("stream_stats", {"timeout_s": 30, "max_events": 1}),
            ("stream_mempool_blocks", {"timeout_s": 30, "max_events": 1}),
            ("alert_when", {"metric": "fee_fastest", "above": 0, "timeout_s": 30}),
        )
    ]
    await asyncio.sleep(1.5)
    waiting_after_1_5_s = sum(not call.done() for call in calls)
    _, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api")
    ingest_started = time.monotonic()
    outcomes = await asyncio.gather(*calls)
    served_after_s = time.monotonic() - ingest_started
    await wait_ready(ingest_url)
    ready_after = await readyz(gateway_url)
    health_after = await eventually(lambda: _health_ok(mcp_url), 10, "health ok")
    figures(
        "gateway-before-ingestor",
        waiting_after_1_5_s=waiting_after_1_5_s,
        served_after_ingestor_start_s=served_after_s,
        pull_before=pulled.error,
        health_before=health_before.body and health_before.body["reasons"],
    )
    assert ready_before[0] == 200 and ready_before[1]["ready"], "the bus answers: waiting calls are served"
    assert ready_before[1]["status"] == "degraded" and any("ingestor" in r for r in ready_before[1]["reasons"])
    assert health_before.body is not None and health_before.body["status"] == "degraded"
    assert health_before.body["reasons"] == ready_before[1]["reasons"], "health and /readyz tell the same facts"
    assert pulled.error is not None and "want=true" in pulled.error and "30 s" not in pulled.error
    assert waiting_after_1_5_s == 3, "waiting calls wait; none is refused at once"
    for outcome in outcomes:
        assert outcome.error is None, outcome.error
    assert outcomes[0].events and outcomes[1].events and outcomes[2].body and outcomes[2].body["triggered"]
    assert ready_after[0] == 200 and ready_after[1]["status"] == "ok"
    assert health_after["status"] == "ok"


async def _health_ok(mcp_url: str) -> dict[str, Any] | None:
    body = (await call_tool(mcp_url, "health", {})).body
    return body if body and body["status"] == "ok" else None


@pytest.mark.timeout(60)
async def test_the_embedded_serve_process_serves_tool_calls_in_its_first_second() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = ServiceProcess(
        ["serve", "--transport", "http", "--port", str(port), "--upstream-url", "sim", "--sim-speed", "1200"]
    ).start()
    try:
        async with httpx.AsyncClient(timeout=1) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if (await http.get(f"{url}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"serve never became ready:\n{process.output()[-2000:]}"
                await asyncio.sleep(0.01)
        ready_at = time.monotonic()
        mcp_url = f"{url}/mcp"
        async with Client(mcp_url) as client:
            sent_after_s = time.monotonic() - ready_at
            outcomes = await asyncio.gather(
                call_tool(mcp_url, "stream_stats", {"timeout_s": 10, "max_events": 1}, client),
                call_tool(mcp_url, "stream_blocks", {"timeout_s": 10, "max_events": 1}, client),
                call_tool(mcp_url, "health", {}, client),
            )
        logs = process.output()
    finally:
        await asyncio.to_thread(process.stop)
    figures("serve-first-second", calls_sent_after_ready_s=sent_after_s, took_s=[o.seconds for o in outcomes])
    assert sent_after_s < 1.0, "the calls were made in the first second after /readyz"
    for outcome in outcomes:
        assert outcome.error is None, outcome.error
    assert outcomes[0].events and outcomes[1].events
    assert not error_lines(logs)


@pytest.mark.timeout(60)
async def test_an_unserved_network_is_refused_at_once_naming_the_served_ones(
    deployment: Deployment, sim: Simulator
) -> None:
    _, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api")
    gateway, gateway_url = deployment.gateway()
    await wait_ready(ingest_url, gateway_url)
    mcp_url = f"{gateway_url}/mcp"
    async with Client(mcp_url) as client:
        refused = await asyncio.gather(
            call_tool(mcp_url, "stream_stats", {"network": "testnet4", "timeout_s": 20}, client),
            call_tool(mcp_url, "stream_blocks", {"network": "testnet4", "want": False}, client),
            call_tool(mcp_url, "track_address", {"network": "testnet4", "address": TESTNET4_ADDRESS}, client),
            call_tool(mcp_url, "alert_when", {"network": "testnet4", "metric": "fee_fastest", "above": 1}, client),
        )
        health = await call_tool(mcp_url, "health", {"network": "testnet4"}, client)
        started = time.monotonic()
        with pytest.raises(Exception) as resource_error:
            await client.read_resource("mempool://testnet4/stats")
        resource_s = time.monotonic() - started
        served = await call_tool(mcp_url, "stream_stats", {"want": False}, client)
    refusals = await scrape(f"{gateway_url}/metrics", "gateway_refusals_total", {"reason": "network_not_served"})
    await asyncio.sleep(0.2)
    logs = gateway.output()
    figures("unserved-network", refused_in_s=[o.seconds for o in refused], resource_s=resource_s)
    for outcome in refused:
        assert outcome.error is not None and outcome.seconds < 1.0, "refused at once"
        assert "testnet4" in outcome.error and "mainnet" in outcome.error, outcome.error
        assert "MEMPOOL_WS_NETWORKS" in outcome.error and "retry in" not in outcome.error, outcome.error
    assert health.body is not None and health.body["status"] == "down"
    assert health.body["reasons"] == [refused[0].error], "health says what admission says"
    assert "testnet4" in str(resource_error.value) and "mainnet" in str(resource_error.value)
    assert served.error is None and served.events, "the served network is unaffected"
    assert refusals == 4
    assert not error_lines(logs), error_lines(logs)
    assert "mempool://testnet4/stats" in logs, "the refused resource read is logged (at INFO)"


@pytest.mark.timeout(60)
async def test_health_readyz_and_admission_agree_while_redis_is_out_of_memory(
    own_redis: RedisServer, sim: Simulator, key_prefix: str
) -> None:
    deployment = Deployment(own_redis.url, key_prefix)
    redis = aioredis.Redis.from_url(own_redis.url, decode_responses=True)
    try:
        _, ingest_url = deployment.ingest(sim.ws_url, f"{sim.http_url}/api")
        _, gateway_url = deployment.gateway()
        await wait_ready(ingest_url, gateway_url)
        mcp_url = f"{gateway_url}/mcp"
        await wait_published_since(own_redis.url, key_prefix, time.time())
        await redis.config_set("maxmemory-policy", "noeviction")
        await redis.config_set("maxmemory", 1)

        async def settled_out_of_memory() -> dict[str, Any] | None:
            first = (await call_tool(mcp_url, "health", {})).body
            await asyncio.sleep(1.0)  # the facts stay put (the ingestor's status record has expired meanwhile)
            again = (await call_tool(mcp_url, "health", {})).body
            settled = first and again and first["bus"] == "out_of_memory" and first["reasons"] == again["reasons"]
            return again if settled else None

        health = await eventually(settled_out_of_memory, 15, "health to report Redis out of memory, settled")
        ready = await readyz(gateway_url)
        waited = await call_tool(mcp_url, "stream_stats", {"timeout_s": 1})
        pulled = await call_tool(mcp_url, "stream_stats", {"want": False})
        health_again = (await call_tool(mcp_url, "health", {})).body
        await redis.config_set("maxmemory", 0)

        async def recovered() -> bool:
            body = (await call_tool(mcp_url, "health", {})).body
            return bool(body) and body["bus"] == "ok"  # type: ignore[index]

        await eventually(recovered, 10, "health to report the bus ok again")
    finally:
        await redis.aclose()
        await deployment.stop_all()
    figures("redis-out-of-memory", health=health["reasons"], waited=waited.error or waited.body["freshness"])  # type: ignore[index]
    assert health["status"] == "degraded" and any("out of memory" in reason for reason in health["reasons"])
    assert ready[0] == 200 and ready[1]["status"] == "degraded" and ready[1]["reasons"] == health["reasons"]
    assert waited.error is None and waited.body is not None, "a waiting call is served while Redis refuses writes"
    assert waited.body["freshness"]["status"] == "degraded"
    assert any("out of memory" in reason for reason in waited.body["freshness"]["reasons"])
    assert pulled.error is None and pulled.events, "the latest snapshot is still served"
    assert any("out of memory" in reason for reason in pulled.body["freshness"]["reasons"])  # type: ignore[index]
    assert health_again is not None and health_again["reasons"] == health["reasons"]
