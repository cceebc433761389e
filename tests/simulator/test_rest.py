"""REST snapshots and control endpoints on the WebSocket port, read with httpx."""

from __future__ import annotations

import asyncio
import itertools
import json

import httpx
import pytest

from simulator import Simulator
from tests.simulator.conftest import PAID, QUIET, ClientFactory, SimFactory, eventually

JSON = "application/json; charset=utf-8"


async def get(simulator: Simulator, path: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=simulator.http_url, timeout=5) as http:
        return await http.get(path, params=params)


async def test_init_data_is_byte_identical_to_the_init_frame(quiet: Simulator, make_client: ClientFactory) -> None:
    client = await make_client(quiet.ws_url)
    await client.send({"action": "init"})
    frame = await client.recv_text()
    response = await get(quiet, "/api/v1/init-data")
    assert response.status_code == 200 and response.headers["content-type"] == JSON
    assert response.content == frame.encode()


async def test_blocks_are_fifteen_newest_first(quiet: Simulator) -> None:
    tip = quiet.tip_height
    blocks = (await get(quiet, "/api/v1/blocks")).json()
    assert [b["height"] for b in blocks] == list(range(tip, tip - 15, -1))
    assert all(newer["previousblockhash"] == older["id"] for newer, older in itertools.pairwise(blocks))
    older = (await get(quiet, f"/api/v1/blocks/{tip - 20}")).json()
    assert [b["height"] for b in older] == list(range(tip - 20, tip - 35, -1))
    init_blocks = json.loads(quiet.world.init_data())["blocks"]
    assert init_blocks == blocks[:8][::-1]


@pytest.mark.parametrize(
    "path", ["/api/v1/blocks/tip/height", "/api/blocks/tip/height", "/signet/api/blocks/tip/height"]
)
async def test_tip_height_is_plain_text(quiet: Simulator, path: str) -> None:
    response = await get(quiet, path)
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == str(quiet.tip_height)


async def test_snapshots_match_the_websocket_values(quiet: Simulator) -> None:
    values = json.loads(quiet.world.init_data())
    assert (await get(quiet, "/api/v1/fees/precise")).json() == values["fees"]
    assert (await get(quiet, "/api/v1/fees/mempool-blocks")).json() == values["mempool-blocks"]
    assert (await get(quiet, "/api/v1/difficulty-adjustment")).json() == values["da"]
    recommended = (await get(quiet, "/api/v1/fees/recommended")).json()
    assert all(isinstance(v, int) for v in recommended.values()) and recommended["minimumFee"] == 1
    chart = (await get(quiet, "/api/v1/statistics/2h")).json()
    assert len(chart) == 120 and chart[0]["added"] > chart[-1]["added"]
    assert len(chart[0]["vsizes"]) == 39


async def test_unknown_paths_are_json_404(quiet: Simulator) -> None:
    for path in ("/api/v1/nothing", "/api/v1/blocks/abc", "/_sim/nothing"):
        response = await get(quiet, path)
        assert response.status_code == 404 and response.headers["content-type"] == JSON
        assert "error" in response.json()


async def test_mine_announces_a_block_at_the_next_height(quiet: Simulator, make_client: ClientFactory) -> None:
    client = await make_client(quiet.ws_url)
    await client.send({"action": "want", "data": ["blocks"]})
    await client.recv()
    tip = quiet.tip_height
    mined = (await get(quiet, "/_sim/mine")).json()
    assert mined["height"] == tip + 1 == quiet.tip_height
    frame = await client.recv()
    assert frame == {"block": mined}


async def test_pay_delivers_a_transaction_at_the_next_tick(fast: Simulator, make_client: ClientFactory) -> None:
    client = await make_client(fast.ws_url)
    await client.send({"track-address": PAID})
    txid = (await get(fast, "/_sim/pay", address=PAID, sats="12345")).json()["txid"]
    frame = await client.wait_for(lambda f: txid in [tx["txid"] for tx in f.get("address-transactions", [])])
    [tx] = [tx for tx in frame["address-transactions"] if tx["txid"] == txid]
    assert tx["vout"][0]["value"] == 12345
    bad = await get(fast, "/_sim/pay", address="tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", sats="1")
    assert bad.status_code == 400 and "error" in bad.json()


async def test_silence_sends_nothing_not_even_pong(make_sim: SimFactory, make_client: ClientFactory) -> None:
    simulator = await make_sim(**QUIET)
    client = await make_client(simulator.ws_url)
    assert (await get(simulator, "/_sim/silence", on="1")).json() == {"silent": True}
    await client.send({"action": "ping"})
    protocol_pong = asyncio.ensure_future(await client.ws.ping())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(protocol_pong), 0.3)
    assert (await get(simulator, "/_sim/silence", on="0")).json() == {"silent": False}
    await asyncio.wait_for(await client.ws.ping(), 2)
    assert protocol_pong.done()
    await client.send({"action": "want", "data": ["mempool-blocks"]})
    assert list(await client.recv()) == ["mempool-blocks"]


async def test_silence_stops_updates_too(fast: Simulator, make_client: ClientFactory) -> None:
    client = await make_client(fast.ws_url)
    await client.send({"action": "want", "data": ["stats"]})
    await client.recv()
    fast.set_silent(True)
    with pytest.raises(TimeoutError):
        while True:
            await client.recv(timeout=0.5)
    fast.set_silent(False)
    assert "mempoolInfo" in await client.recv()


async def test_inject_sends_a_raw_frame_to_every_socket(quiet: Simulator, make_client: ClientFactory) -> None:
    one, two = await make_client(quiet.ws_url), await make_client(quiet.ws_url)
    await eventually(lambda: quiet.stats().connections == 2)
    raw = '{"unknownKey": [1, 2], "pong": true}'
    assert (await get(quiet, "/_sim/inject", frame=raw)).json() == {"sent": 2}
    assert await one.recv_text() == raw and await two.recv_text() == raw


async def test_stats_describe_connections_and_closes(quiet: Simulator, make_client: ClientFactory) -> None:
    client = await make_client(quiet.ws_url)
    await client.send({"action": "want", "data": ["stats", "blocks"], "track-addresses": [PAID]})
    await client.recv()
    await client.send({"track-address": PAID})
    assert await client.ping() == {"pong": True}
    closing = await make_client(quiet.ws_url)
    await closing.send("nope")
    await eventually(lambda: quiet.stats().closes == {"invalid_json": 1})
    stats = (await get(quiet, "/_sim/stats")).json()
    assert stats["connections"] == 1 and stats["accepted"] == 2 and stats["closes"] == {"invalid_json": 1}
    [peer] = stats["per_connection"]
    assert peer["messages_in"] == 3 and peer["max_messages_in_window"] == 3
    assert peer["wants"] == ["blocks", "stats"]
    assert peer["track_address"] == PAID and peer["track_addresses"] == [PAID]
    assert stats["online"] is True and stats["silent"] is False and stats["tip_height"] == quiet.tip_height
