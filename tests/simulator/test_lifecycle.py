"""Start, stop, going offline and back, restarting on the same anchor, and ``run``."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from simulator import Simulator, run
from tests.simulator.conftest import QUIET, ClientFactory, SimFactory, eventually, settings

VERY_FAST = {"speed": 1200.0, "tick_s": 0.05}
"""Slots of 0.5 s: any 1 s interval contains at least one block."""


async def blocks_snapshot(url: str) -> list[dict[str, object]]:
    async with connect(url, ping_interval=None) as ws:
        await ws.send('{"action":"want","data":["blocks"]}')
        async with asyncio.timeout(5):
            while True:
                frame = json.loads(await ws.recv())
                if "blocks" in frame:
                    blocks: list[dict[str, object]] = frame["blocks"]
                    return blocks


async def test_offline_drops_sockets_refuses_connections_and_the_chain_goes_on(
    make_sim: SimFactory, make_client: ClientFactory
) -> None:
    simulator = await make_sim(**VERY_FAST)
    client = await make_client(simulator.ws_url)
    assert await client.ping() == {"pong": True}
    tip = simulator.tip_height
    await simulator.go_offline()
    with pytest.raises(ConnectionClosedError):
        while True:
            await client.recv()
    assert client.ws.close_code == 1006
    with pytest.raises(OSError):
        await connect(simulator.ws_url, open_timeout=2)
    await eventually(lambda: simulator.tip_height >= tip + 2)
    await simulator.go_online()
    blocks = await blocks_snapshot(simulator.ws_url)
    assert blocks[-1]["height"] == simulator.tip_height >= tip + 2
    assert simulator.stats().closes["offline"] == 1


async def test_the_offline_endpoint_comes_back_by_itself(quiet: Simulator) -> None:
    async with httpx.AsyncClient(base_url=quiet.http_url, timeout=5) as http:
        assert (await http.get("/_sim/offline", params={"seconds": "0.3"})).json() == {
            "offline": True,
            "seconds": 0.3,
        }
    await eventually(lambda: not quiet.stats().online, timeout=2)
    with pytest.raises(OSError):
        await connect(quiet.ws_url, open_timeout=2)
    await eventually(lambda: quiet.stats().online, timeout=3)
    async with connect(quiet.ws_url, ping_interval=None) as ws:
        await ws.send('{"action":"ping"}')
        assert await asyncio.wait_for(ws.recv(), 5) == '{"pong": true}'


async def test_a_restart_with_the_same_anchor_continues_the_chain() -> None:
    overrides = {**VERY_FAST, "seed": 21, "anchor_unix_s": time.time() - 30}
    async with Simulator(settings(**overrides)) as first:
        before = await blocks_snapshot(first.ws_url)
        stopped_at = first.tip_height
    await asyncio.sleep(1.1)
    async with Simulator(settings(**overrides)) as second:
        assert second.tip_height > stopped_at
        async with httpx.AsyncClient(base_url=second.http_url, timeout=5) as http:
            again = (await http.get(f"/api/v1/blocks/{stopped_at}")).json()
        assert again[:8] == before[::-1]
        latest = (await blocks_snapshot(second.ws_url))[-1]
        assert latest["height"] == second.tip_height


async def test_stop_is_idempotent_and_closes_clients(make_client: ClientFactory) -> None:
    simulator = Simulator(settings(**QUIET))
    await simulator.start()
    client = await make_client(simulator.ws_url)
    assert await client.ping() == {"pong": True}
    await simulator.stop()
    await simulator.stop()
    await asyncio.wait_for(client.ws.wait_closed(), 5)
    assert client.ws.close_code == 1001
    with pytest.raises(OSError):
        await connect(simulator.ws_url, open_timeout=2)


async def test_run_logs_the_url_and_serves_until_cancelled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="simulator")
    task = asyncio.create_task(run(settings(**QUIET)))
    await eventually(lambda: any("simulator listening on ws://" in r.getMessage() for r in caplog.records))
    [message] = [r.getMessage() for r in caplog.records if "simulator listening" in r.getMessage()]
    url = message.split(" on ", 1)[1]
    async with connect(url, ping_interval=None) as ws:
        await ws.send('{"action":"ping"}')
        assert await asyncio.wait_for(ws.recv(), 5) == '{"pong": true}'
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(OSError):
        await connect(url, open_timeout=2)


async def test_mine_block_shifts_later_heights(make_sim: SimFactory) -> None:
    simulator = await make_sim(**VERY_FAST)
    tip = simulator.tip_height
    mined = await simulator.mine_block()
    assert mined["height"] == tip + 1
    await eventually(lambda: simulator.tip_height >= tip + 2)
    async with httpx.AsyncClient(base_url=simulator.http_url, timeout=5) as http:
        following, extra, before = (await http.get(f"/api/v1/blocks/{tip + 2}")).json()[:3]
    assert extra == mined and before["height"] == tip
    assert following["height"] == tip + 2 and following["previousblockhash"] == mined["id"]
