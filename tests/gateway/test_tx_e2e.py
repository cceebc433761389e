"""Transaction tracking end to end with the official mcp SDK client over HTTP: simulator (driven by its
/_sim/ controls) → ingestor → Redis → two gateway processes; and ``mempool-ws serve --upstream-url sim``."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from mcp import Client

from shared.bitcoin.addresses import segwit_encode
from shared.settings import SimSettings
from tests.gateway.stack import Stack, running_stack
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, wait_http_ok
from tests.support.redis_topologies import delete_keys

pytestmark = pytest.mark.timeout(150)

SLOW_CHAIN = SimSettings(port=0, speed=1, tick_s=0.1, seed=17)
"""A natural block about every 10 minutes: blocks come from /_sim/mine."""


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
        async with running_stack(url, key_prefix, gateways=2, sim_settings=SLOW_CHAIN) as running:
            yield running
    finally:
        for data_url in data_urls:
            await delete_keys(data_url, f"{key_prefix}:*")


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    body = result.structured_content
    assert isinstance(body, dict)
    return body


async def control(base_url: str, action: str, **params: Any) -> Any:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{base_url}/_sim/{action}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def tx_status(base_url: str, txid: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as http:
        status: dict[str, Any] = (await http.get(f"{base_url}/api/tx/{txid}/status")).json()
    return status


class Pushed:
    """Progress messages (event envelopes) pushed to one call."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        if "data" in (envelope := json.loads(message or "{}")):  # not a keep-alive
            self.events.append(envelope)

    async def until(self, test: Any, timeout: float = 20) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if test(event["data"]):
                        return event
                await asyncio.sleep(0.05)


def in_mempool(data: dict[str, Any]) -> bool:
    return data.get("status") == "mempool" and data.get("position") is not None


async def follow_to_confirmation(client: Client, sim_url: str, txid: str) -> tuple[list[dict[str, Any]], Pushed]:
    """track_tx(until=confirmed) while a block is mined once the position arrived; the events and pushes."""
    pushed = Pushed()
    call = asyncio.create_task(
        client.call_tool("track_tx", {"txid": txid, "until": "confirmed", "timeout_s": 60}, progress_callback=pushed)
    )
    await pushed.until(in_mempool)
    await control(sim_url, "mine")
    body = structured(await call)
    return body["events"], pushed


async def test_a_payment_is_followed_live_from_its_position_to_its_confirmation_with_the_height(stack: Stack) -> None:
    sim_url = stack.sim.http_url
    txid = (await control(sim_url, "pay", address=segwit_encode("bc", 0, b"\x61" * 20), sats=70_000))["txid"]
    async with Client(stack.mcp_url(0)) as client:
        events, pushed = await follow_to_confirmation(client, sim_url, txid)
    first, last = events[0]["data"], events[-1]["data"]
    assert first["status"] == "mempool" and first["position"]["block_index"] >= 0
    assert first["position"]["vsize_ahead_vb"] >= 0
    confirmed = await tx_status(sim_url, txid)
    assert last["status"] == "confirmed" and last["block_height"] == confirmed["block_height"]
    assert last["block_hash"] == confirmed["block_hash"] and last["confirmations"] == 1
    assert [event["data"]["status"] for event in pushed.events] == [event["data"]["status"] for event in events]


async def test_a_replacement_is_reported_with_the_replacing_txid(stack: Stack) -> None:
    sim_url = stack.sim.http_url
    payee = segwit_encode("bc", 0, b"\x62" * 20)
    txid = (await control(sim_url, "pay", address=payee, sats=71_000, rate=1.01))["txid"]
    pushed = Pushed()
    async with Client(stack.mcp_url(1)) as client:
        call = asyncio.create_task(
            client.call_tool("track_tx", {"txid": txid, "until": "replaced", "timeout_s": 60}, progress_callback=pushed)
        )
        await pushed.until(in_mempool)
        replacing = (await control(sim_url, "replace", txid=txid))["txid"]
        body = structured(await call)
    last = body["events"][-1]["data"]
    assert last["status"] == "replaced" and last["replaced_by"] == replacing and replacing != txid
    assert not body["timed_out"]


async def test_a_cursor_from_one_gateway_resumes_on_the_other(stack: Stack) -> None:
    sim_url = stack.sim.http_url
    txid = (await control(sim_url, "pay", address=segwit_encode("bc", 0, b"\x63" * 20), sats=72_000))["txid"]
    async with Client(stack.mcp_url(0)) as first_pod, Client(stack.mcp_url(1)) as second_pod:
        seen: list[dict[str, Any]] = []
        cursor: str | None = None
        async with asyncio.timeout(30):
            while not any(in_mempool(event["data"]) for event in seen):
                arguments: dict[str, Any] = {"txid": txid, "until": "any", "timeout_s": 10}
                if cursor:
                    arguments["cursor"] = cursor
                body = structured(await first_pod.call_tool("track_tx", arguments))
                seen += body["events"]
                cursor = body["cursor"]
        assert cursor is not None
        await control(sim_url, "mine")
        resumed = structured(await second_pod.call_tool("track_tx", {"txid": txid, "cursor": cursor, "timeout_s": 30}))
    ids = [int(event["id"]) for event in resumed["events"]]
    assert ids and min(ids) > int(cursor.rsplit(":", 1)[1]), "nothing repeated from the first pod"
    assert resumed["events"][-1]["data"]["status"] == "confirmed" and not resumed["gap"]
    assert resumed["events"][-1]["data"]["block_height"] == (await tx_status(sim_url, txid))["block_height"]


async def test_three_paid_addresses_come_back_in_one_result_with_one_cursor(stack: Stack) -> None:
    sim_url = stack.sim.http_url
    wallet = [segwit_encode("bc", 0, bytes([0x70 + n]) * 20) for n in range(3)]
    arguments: dict[str, Any] = {"address": wallet[0], "more_addresses": wallet[1:], "max_events": 50}
    async with Client(stack.mcp_url(0)) as client:
        settled = structured(await client.call_tool("track_address", {**arguments, "timeout_s": 3}))
        cursor = settled["cursor"]  # the simulator's own first payment to each newly tracked address is behind it
        paid = {(await control(sim_url, "pay", address=address, sats=10_000 + n))["txid"]: address
                for n, address in enumerate(wallet)}  # fmt: skip
        body = structured(
            await client.call_tool("track_address", {**arguments, "max_events": 3, "timeout_s": 20, "cursor": cursor})
        )
    received = {tx["txid"]: event["data"]["address"] for event in body["events"] for tx in event["data"]["mempool"]}
    assert received == paid, "all three payments, each under its own address, in one result"
    assert body["cursor"].endswith(f":{body['events'][-1]['id']}") and not body["gap"]
    assert body["topic"] == ",".join(f"address:{address}" for address in wallet)


async def test_serve_with_the_simulator_follows_a_payment_to_its_confirmation() -> None:
    port = free_port()
    serve = ServiceProcess(
        ["serve", "--transport", "http", "--port", str(port), "--upstream-url", "sim", "--sim-speed", "1"],
        env={"MEMPOOL_WS_LOG_LEVEL": "INFO"},
    ).start()
    try:
        await wait_http_ok(f"http://127.0.0.1:{port}/readyz", 30)
        match = re.search(r"connected to ws://127\.0\.0\.1:(\d+)/api/v1/ws", serve.output())
        assert match, serve.output()[-2000:]
        sim_url = f"http://127.0.0.1:{match.group(1)}"
        txid = (await control(sim_url, "pay", address=segwit_encode("bc", 0, b"\x64" * 20), sats=73_000))["txid"]
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            events, _ = await follow_to_confirmation(client, sim_url, txid)
        assert events[0]["data"]["status"] == "mempool" and events[0]["data"]["position"] is not None
        assert events[-1]["data"]["status"] == "confirmed"
        assert events[-1]["data"]["block_height"] == (await tx_status(sim_url, txid))["block_height"]
    finally:
        await asyncio.to_thread(serve.stop)
