"""Transaction tracking over real sockets: positions that move, confirmation, RBF, CPFP, limits, REST status."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from simulator import Simulator
from simulator.protocol import MSG_RATE_LIMIT
from simulator.txprotocol import MAX_TRACKED_TXS, TRACK_TXS_FORMAT_ERROR, track_txs_limit_error
from tests.simulator.conftest import PAID, Client, ClientFactory, SimFactory, eventually

SLOW = {"speed": 0.001, "tick_s": 0.05}
"""Mempool changes every 50 ms, but blocks only when a test mines one."""
LOW_RATE = 0.5
"""Sat/vB that leaves a payment a few projected blocks deep in the seeded mempool."""


async def get(simulator: Simulator, path: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=simulator.http_url, timeout=5) as http:
        return await http.get(path, params=params)


def position_of(frame: dict[str, Any], txid: str) -> dict[str, Any] | None:
    """The position a frame reports for ``txid`` (``txPosition`` or ``tracked-txs``)."""
    single = frame.get("txPosition")
    if single and single["txid"] == txid:
        return dict(single["position"])
    info = frame.get("tracked-txs", {}).get(txid, {})
    return dict(info["position"]) if "position" in info else None


async def next_position(client: Client, txid: str) -> dict[str, Any]:
    frame = await client.wait_for(lambda f: position_of(f, txid) is not None)
    found = position_of(frame, txid)
    assert found is not None
    return found


async def mine(simulator: Simulator, client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mine a block; return it and the client's frame announcing it."""
    mined = (await get(simulator, "/_sim/mine")).json()
    frame = await client.wait_for(lambda f: f.get("block", {}).get("id") == mined["id"])
    return mined, frame


async def test_track_tx_gives_a_position_that_moves_then_the_confirmation_with_its_height(
    make_sim: SimFactory, make_client: ClientFactory
) -> None:
    simulator = await make_sim(**SLOW)
    client = await make_client(simulator.ws_url)
    txid = (await get(simulator, "/_sim/pay", address=PAID, sats="50000", rate=str(LOW_RATE))).json()["txid"]
    await client.send({"action": "want", "data": ["blocks"], "track-tx": txid})
    first = await next_position(client, txid)
    assert first["block"] >= 2
    moved = await next_position(client, txid)
    while moved == first:
        moved = await next_position(client, txid)
    assert moved["block"] == first["block"] and moved["vsize"] > first["vsize"]
    blocks_left = moved["block"]
    while True:
        mined, frame = await mine(simulator, client)
        if "txConfirmed" in frame:
            break
        assert frame["txPosition"]["position"]["block"] < blocks_left
        blocks_left = frame["txPosition"]["position"]["block"]
    assert list(frame) == ["block", "txConfirmed"] and frame["txConfirmed"] == txid
    status = (await get(simulator, f"/api/tx/{txid}/status")).json()
    assert status == {
        "confirmed": True,
        "block_height": mined["height"],
        "block_hash": mined["id"],
        "block_time": mined["timestamp"],
    }
    assert mined["height"] == simulator.tip_height


async def test_a_replacement_reports_the_replacing_txid_to_every_kind_of_tracker(
    make_sim: SimFactory, make_client: ClientFactory
) -> None:
    simulator = await make_sim(**SLOW)
    single, multi = await make_client(simulator.ws_url), await make_client(simulator.ws_url)
    txid = simulator.pay(PAID, 40_000, rate=1.0)
    await single.send({"track-tx": txid})
    await multi.send({"track-txs": [txid]})
    await next_position(single, txid)
    await next_position(multi, txid)
    response = await get(simulator, "/_sim/replace", txid=txid)
    assert response.status_code == 200
    new = response.json()["txid"]
    swap = await single.wait_for(lambda f: "rbfTransaction" in f)
    assert swap["rbfTransaction"] == {"txid": new} and "txPosition" not in swap
    assert swap["rbfInfo"]["tx"]["txid"] == new and swap["rbfInfo"]["replaces"][0]["tx"]["txid"] == txid
    tracked = await multi.wait_for(lambda f: "replacedBy" in f.get("tracked-txs", {}).get(txid, {}))
    assert tracked["tracked-txs"] == {txid: {"replacedBy": new}}
    late = await make_client(simulator.ws_url)
    await late.send({"track-tx": txid, "watch-mempool": True, "track-txs": [txid, new]})
    reply = await late.recv()
    assert reply["txReplaced"] == {"txid": new}
    assert reply["tracked-txs"][txid] == {"replacedBy": new, "confirmed": False}
    assert reply["tracked-txs"][new]["confirmed"] is False and "position" in reply["tracked-txs"][new]
    assert simulator.stats().per_connection[-1].track_tx is None
    assert (await get(simulator, f"/api/tx/{txid}/status")).json() == {"confirmed": False}
    again = await get(simulator, "/_sim/replace", txid=txid)
    assert again.status_code == 400 and "not in the mempool" in again.json()["error"]


async def test_track_txs_takes_100_per_socket_and_more_gets_the_error_then_a_close(
    quiet: Simulator, make_client: ClientFactory
) -> None:
    client = await make_client(quiet.ws_url)
    txids = [f"{index:064x}" for index in range(MAX_TRACKED_TXS + 1)]
    assert await client.ping() == {"pong": True}
    await client.send({"action": "ping", "track-txs": txids[:MAX_TRACKED_TXS]})
    assert await client.recv() == {"pong": True}
    assert quiet.stats().per_connection[0].track_txs == txids[:MAX_TRACKED_TXS]
    await client.send({"action": "ping", "track-txs": txids})
    text = await client.recv_text()
    assert text == '{"track-txs-error": "' + track_txs_limit_error() + '"}'
    with pytest.raises(ConnectionClosed):
        await client.recv()
    assert client.ws.close_code == 1005
    other = await make_client(quiet.ws_url)
    await other.send({"track-txs": "abc"})
    assert await other.recv() == {"track-txs-error": TRACK_TXS_FORMAT_ERROR}
    with pytest.raises(ConnectionClosed):
        await other.recv()
    await eventually(lambda: quiet.stats().closes == {"track_txs_error": 2})


async def test_the_rate_limit_still_closes_past_100_messages_in_10_seconds(
    quiet: Simulator, make_client: ClientFactory
) -> None:
    client = await make_client(quiet.ws_url)
    txids = [f"{index:064x}" for index in range(MAX_TRACKED_TXS)]
    for index in range(MSG_RATE_LIMIT):
        await client.send({"action": "ping", "track-tx": txids[index], "track-txs": txids})
    for _ in range(MSG_RATE_LIMIT):
        assert await client.recv() == {"pong": True}
    await client.send({"action": "ping", "track-txs": txids})
    with pytest.raises(ConnectionClosed):
        await client.recv()
    assert client.ws.close_code == 1005
    await eventually(lambda: quiet.stats().closes == {"rate_limit": 1})


async def test_a_cpfp_child_raises_the_effective_rate_and_both_confirm_together(
    make_sim: SimFactory, make_client: ClientFactory
) -> None:
    simulator = await make_sim(**SLOW)
    client = await make_client(simulator.ws_url)
    txid = simulator.pay(PAID, 60_000, rate=0.3)
    await client.send({"action": "want", "data": ["blocks"], "track-txs": [txid]})
    before = await next_position(client, txid)
    response = (await get(simulator, "/_sim/bump", txid=txid, rate="40")).json()
    child, effective = response["txid"], response["effective_fee_rate"]
    assert 40 <= effective < 40.1
    frame = await client.wait_for(lambda f: "cpfp" in f.get("tracked-txs", {}).get(txid, {}))
    info = frame["tracked-txs"][txid]
    assert info["utxoSpent"] == {"1": {"vin": 0, "txid": child}}
    assert info["cpfp"]["effectiveFeePerVsize"] == effective
    assert [d["txid"] for d in info["cpfp"]["descendants"]] == [child]
    assert info["position"]["block"] == 0 < before["block"]
    follow_up = await client.wait_for(lambda f: txid in f.get("tracked-txs", {}))
    assert "cpfp" not in follow_up["tracked-txs"][txid]
    await client.send({"track-txs": [txid, child]})
    await client.wait_for(lambda f: f.get("tracked-txs", {}).get(child, {}).get("confirmed") is False)
    mined, frame = await mine(simulator, client)
    assert frame["tracked-txs"] == {txid: {"confirmed": True}, child: {"confirmed": True}}
    for confirmed in (txid, child):
        status = (await get(simulator, f"/api/tx/{confirmed}/status")).json()
        assert status["confirmed"] is True and status["block_height"] == mined["height"]


async def test_an_accelerated_transaction_jumps_to_the_front_and_confirms_next(
    make_sim: SimFactory, make_client: ClientFactory
) -> None:
    simulator = await make_sim(**SLOW)
    client = await make_client(simulator.ws_url)
    txid = simulator.pay(PAID, 70_000, rate=LOW_RATE)
    await client.send({"action": "want", "data": ["blocks"], "track-tx": txid})
    assert (await next_position(client, txid))["block"] >= 2
    assert (await get(simulator, "/_sim/accelerate", txid=txid)).json() == {"txid": txid, "accelerated": True}
    frame = await client.wait_for(lambda f: f.get("txPosition", {}).get("position", {}).get("accelerated"))
    position = frame["txPosition"]["position"]
    assert position["block"] == 0 and position["acceleratedBy"] and position["feeDelta"] > 0
    assert frame["txPosition"]["accelerationPositions"][0]["block"] == 0
    _, frame = await mine(simulator, client)
    assert frame["txConfirmed"] == txid


async def test_an_evicted_transaction_goes_quiet_and_is_left_out_of_new_lists(
    make_sim: SimFactory, make_client: ClientFactory
) -> None:
    simulator = await make_sim(**SLOW)
    client = await make_client(simulator.ws_url)
    kept, dropped = simulator.pay(PAID, 1_000, rate=LOW_RATE), simulator.pay(PAID, 2_000, rate=LOW_RATE)
    await client.send({"track-txs": [kept, dropped]})
    await client.wait_for(lambda f: {kept, dropped} <= set(f.get("tracked-txs", {})))
    assert (await get(simulator, "/_sim/evict", txid=dropped)).json() == {"txid": dropped, "evicted": True}
    await client.send({"action": "ping"})
    await client.wait_for(lambda f: f == {"pong": True})
    frames = [await client.wait_for(lambda f: "tracked-txs" in f) for _ in range(3)]
    assert all(list(frame["tracked-txs"]) == [kept] for frame in frames)
    await client.send({"track-txs": [dropped, kept]})
    reply = await client.wait_for(lambda f: f.get("tracked-txs", {}).get(kept, {}).get("confirmed") is False)
    assert list(reply["tracked-txs"]) == [kept]
    assert (await get(simulator, f"/api/tx/{dropped}/status")).json() == {"confirmed": False}


async def test_tx_status_answers_like_esplora(quiet: Simulator) -> None:
    unknown = await get(quiet, f"/api/tx/{'cd' * 32}/status")
    assert unknown.status_code == 200 and unknown.text == '{"confirmed":false}'
    for bad in ("xyz", "ab" * 31, "g" * 64):
        response = await get(quiet, f"/api/tx/{bad}/status")
        assert response.status_code == 400 and response.text == "Invalid hex string"
        assert response.headers["content-type"].startswith("text/plain")
    prefixed = await get(quiet, f"/testnet4/api/tx/{'CD' * 32}/status")
    assert prefixed.json() == {"confirmed": False}


@pytest.mark.parametrize(
    ("path", "params", "status", "error"),
    [
        ("/_sim/replace", {"txid": "ab" * 32}, 404, "unknown transaction"),
        ("/_sim/bump", {"txid": ""}, 404, "unknown transaction"),
        ("/_sim/accelerate", {"txid": "ab" * 32}, 404, "unknown transaction"),
        ("/_sim/evict", {"txid": "ab" * 32}, 404, "unknown transaction"),
        ("/_sim/pay", {"address": PAID, "sats": "1000", "rate": "0.01"}, 400, "rate must be between"),
        ("/_sim/pay", {"address": PAID, "sats": "1000", "rate": "nan"}, 400, "rate must be between"),
        ("/_sim/pay", {"address": PAID, "sats": "1000", "rate": "fast"}, 400, "could not convert"),
    ],
)
async def test_controls_refuse_unknown_txids_and_bad_rates(
    quiet: Simulator, path: str, params: dict[str, str], status: int, error: str
) -> None:
    response = await get(quiet, path, **params)
    assert response.status_code == status
    assert error in response.json()["error"]


async def test_controls_refuse_transactions_out_of_the_mempool_and_rates_that_do_not_raise(
    make_sim: SimFactory, make_client: ClientFactory
) -> None:
    simulator = await make_sim(**SLOW)
    client = await make_client(simulator.ws_url)
    txid = simulator.pay(PAID, 9_000, rate=2.0)
    await client.send({"track-tx": txid})
    await next_position(client, txid)
    low = await get(simulator, "/_sim/bump", txid=txid, rate="1.5")
    assert low.status_code == 400 and "must exceed the current effective fee rate" in low.json()["error"]
    await get(simulator, "/_sim/evict", txid=txid)
    for action in ("replace", "bump", "accelerate", "evict"):
        response = await get(simulator, f"/_sim/{action}", txid=txid)
        assert response.status_code == 400 and "it is removed" in response.json()["error"]
