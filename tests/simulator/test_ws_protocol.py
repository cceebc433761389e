"""Every protocol rule over a real ``websockets`` client on loopback."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from simulator import Simulator
from simulator.protocol import MSG_RATE_LIMIT, address_limit_error
from tests.simulator.conftest import (
    BLOCK_FRAME_KEYS,
    OTHER,
    PAID,
    QUIET,
    ClientFactory,
    SimFactory,
    eventually,
)

WANT_ALL = {"action": "want", "data": ["blocks", "mempool-blocks", "stats", "live-2h-chart"]}


async def test_want_snapshots_new_channels_only_and_an_identical_want_is_silent(
    quiet: Simulator, make_client: ClientFactory
) -> None:
    client = await make_client(quiet.ws_url)
    await client.send({"action": "want", "data": ["blocks", "stats"]})
    frame = await client.recv()
    assert list(frame) == ["blocks", "mempoolInfo", "vBytesPerSecond", "fees", "da"]
    assert [b["height"] for b in frame["blocks"]] == list(range(quiet.tip_height - 7, quiet.tip_height + 1))
    await client.send({"action": "want", "data": ["blocks", "stats"]})
    assert await client.ping() == {"pong": True}
    await client.send({"action": "want", "data": ["stats", "mempool-blocks", "live-2h-chart", "bogus"]})
    assert list(await client.recv()) == ["mempool-blocks"]
    await client.send({"action": "want", "data": "blocks"})
    await client.send({"action": "want", "data": ["blocks"]})
    assert list(await client.recv()) == ["blocks"]
    assert quiet.stats().per_connection[0].wants == ["blocks"]


async def test_init_comes_first_in_its_own_frame_equal_to_the_cache(
    quiet: Simulator, make_client: ClientFactory
) -> None:
    client = await make_client(quiet.ws_url)
    too_many = [f"{PAID[:-1]}{c}" for c in "0123456789ac"]
    await client.send({"action": "init", "track-addresses": [PAID, OTHER, *too_many]})
    assert await client.recv_text() == quiet.world.init_data()
    assert list(await client.recv()) == ["track-addresses-error"]
    assert quiet.stats().per_connection[0].wants == []


async def test_ping_gets_pong_and_replies_to_one_message_merge(
    make_sim: SimFactory, make_client: ClientFactory
) -> None:
    simulator = await make_sim(**QUIET, address_limit=1)
    client = await make_client(simulator.ws_url)
    assert await client.ping() == {"pong": True}
    await client.send({"action": "ping", "track-addresses": [PAID]})
    assert await client.recv_text() == '{"pong": true}'
    await client.send({"action": "ping", "track-addresses": [PAID, OTHER]})
    merged = '{"track-addresses-error": "too many addresses requested, this connection supports tracking a '
    assert await client.recv_text() == merged + 'maximum of 1 addresses", "pong": true}'
    await client.send({"action": "want", "data": ["mempool-blocks"], "refresh-blocks": True})
    assert list(await client.recv()) == ["mempool-blocks", "blocks"]


async def test_track_address_replaces_and_invalid_clears_without_reply(
    quiet: Simulator, make_client: ClientFactory
) -> None:
    client = await make_client(quiet.ws_url)
    await client.send({"track-address": PAID})
    assert await client.ping() == {"pong": True}
    assert quiet.stats().per_connection[0].track_address == PAID
    await client.send({"track-address": OTHER.upper()})
    assert await client.ping() == {"pong": True}
    assert quiet.stats().per_connection[0].track_address == OTHER
    await client.send({"track-address": "stop"})
    assert await client.ping() == {"pong": True}
    assert quiet.stats().per_connection[0].track_address is None


async def test_track_addresses_drops_invalid_entries_and_empty_clears(
    quiet: Simulator, make_client: ClientFactory
) -> None:
    client = await make_client(quiet.ws_url)
    await client.send({"track-addresses": [PAID, "not an address", OTHER.upper()]})
    assert await client.ping() == {"pong": True}
    assert quiet.stats().per_connection[0].track_addresses == [PAID, OTHER.upper()]
    await client.send({"track-addresses": "nope"})
    await client.send({"track-addresses": []})
    assert await client.ping() == {"pong": True}
    assert quiet.stats().per_connection[0].track_addresses == []


async def test_the_limit_error_clears_the_list_so_no_more_address_frames_arrive(
    make_sim: SimFactory, make_client: ClientFactory
) -> None:
    simulator = await make_sim(address_limit=2)
    client = await make_client(simulator.ws_url)
    await client.send({"action": "want", "data": ["stats"], "track-addresses": [PAID]})
    await client.wait_for(lambda f: PAID in f.get("multi-address-transactions", {}))
    await client.send({"track-addresses": [PAID, OTHER, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"]})
    error = await client.wait_for(lambda f: "track-addresses-error" in f)
    assert error == {"track-addresses-error": address_limit_error(2)}
    assert address_limit_error(2) == (
        "too many addresses requested, this connection supports tracking a maximum of 2 addresses"
    )
    txid = simulator.pay(PAID, 77_000)
    frames = await client.frames_until(lambda f: txid in json.dumps(f.get("transactions", [])))
    frames += await client.frames_until(lambda f: "mempoolInfo" in f and "transactions" not in f)
    frames += await client.frames_until(lambda f: "transactions" in f)
    assert not [f for f in frames if "multi-address-transactions" in f]
    assert simulator.stats().per_connection[0].track_addresses == []


async def test_more_than_100_messages_in_10_seconds_close_without_status(
    quiet: Simulator, make_client: ClientFactory
) -> None:
    client = await make_client(quiet.ws_url)
    for _ in range(MSG_RATE_LIMIT):
        await client.send({"action": "ping"})
    for _ in range(MSG_RATE_LIMIT):
        assert await client.recv() == {"pong": True}
    assert quiet.stats().per_connection[0].max_messages_in_window == MSG_RATE_LIMIT
    await client.send({"action": "ping"})
    with pytest.raises(ConnectionClosed):
        await client.recv()
    assert client.ws.close_code == 1005
    await eventually(lambda: quiet.stats().closes == {"rate_limit": 1})


async def test_invalid_json_closes(quiet: Simulator, make_client: ClientFactory) -> None:
    client = await make_client(quiet.ws_url)
    await client.send("{not json")
    with pytest.raises(ConnectionClosed):
        await client.recv()
    assert client.ws.close_code == 1005
    await eventually(lambda: quiet.stats().closes == {"invalid_json": 1})


async def test_a_message_over_50000_bytes_drops_the_socket(quiet: Simulator, make_client: ClientFactory) -> None:
    client = await make_client(quiet.ws_url)
    padding = 50_000 - len('{"action": "ping", "pad": ""}')
    await client.send(json.dumps({"action": "ping", "pad": "x" * padding}))
    assert await client.recv() == {"pong": True}
    await client.send(json.dumps({"action": "ping", "pad": "x" * (padding + 1)}))
    with pytest.raises(ConnectionClosedError):
        await client.recv()
    assert client.ws.close_code in (1006, 1009)
    await eventually(lambda: quiet.stats().closes == {"too_big": 1})


async def test_the_server_never_pings_but_answers_protocol_pings(quiet: Simulator, make_client: ClientFactory) -> None:
    client = await make_client(quiet.ws_url)
    pong = await client.ws.ping()
    assert await asyncio.wait_for(pong, 2) >= 0
    assert [peer.ws.ping_interval for peer in quiet._peers.values()] == [None]


async def test_a_block_frame_carries_block_stats_projected_blocks_and_addresses(
    fast: Simulator, make_client: ClientFactory
) -> None:
    client = await make_client(fast.ws_url)
    await client.send({**WANT_ALL, "track-addresses": [PAID]})
    frames = await client.frames_until(lambda f: "block" in f and "multi-address-transactions" in f)
    block = frames[-1]
    assert list(block) == [*BLOCK_FRAME_KEYS, "multi-address-transactions"]
    entered = [f["multi-address-transactions"][PAID] for f in frames[:-1] if "multi-address-transactions" in f]
    assert entered and all(e["confirmed"] == [] and e["mempool"][0]["status"] == {"confirmed": False} for e in entered)
    [confirmed] = block["multi-address-transactions"][PAID]["confirmed"]
    assert confirmed["txid"] == entered[-1]["mempool"][0]["txid"]
    assert confirmed["status"]["block_height"] == block["block"]["height"]
    assert confirmed["status"]["block_hash"] == block["block"]["id"]


async def test_live_chart_points_arrive_alone(fast: Simulator, make_client: ClientFactory) -> None:
    client = await make_client(fast.ws_url)
    await client.send({"action": "want", "data": ["live-2h-chart"]})
    point = await client.wait_for(lambda f: "live-2h-chart" in f)
    assert list(point) == ["live-2h-chart"]
    assert point["live-2h-chart"]["mempool_byte_weight"] == 4 * sum(point["live-2h-chart"]["vsizes"])


async def test_a_network_prefix_is_accepted(make_sim: SimFactory, make_client: ClientFactory) -> None:
    simulator = await make_sim(**QUIET, network="testnet4")
    client = await make_client(simulator.ws_url.replace("/api/v1/ws", "/testnet4/api/v1/ws"))
    assert await client.ping() == {"pong": True}
