"""Payments to tracked addresses over real sockets: mempool, replacement, confirmation."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from shared.bitcoin.addresses import segwit_encode
from simulator import Simulator
from simulator.payments import Payments
from tests.simulator.conftest import PAID, ClientFactory, SimFactory

SEED = 11


def replaced_address(seed: int) -> str:
    """An address whose automatic payment gets replaced (RBF) under ``seed``."""
    fees = {"fastestFee": 3.0, "economyFee": 0.2}
    for index in range(500):
        address = segwit_encode("bc", 0, hashlib.sha256(f"rbf{index}".encode()).digest()[:20])
        payments = Payments(seed, "mainnet")
        payments.on_tracked(address, 0)
        if any(payments.on_tick(tick, 0.0, fees, 1).replacements for tick in range(1, 6)):
            return address
    raise AssertionError("no replaced payment among 500 addresses")


def txids(txs: list[dict[str, Any]]) -> list[str]:
    return [tx["txid"] for tx in txs]


async def test_single_address_sees_mempool_then_block_transactions(fast: Simulator, make_client: ClientFactory) -> None:
    client = await make_client(fast.ws_url)
    await client.send({"track-address": PAID.upper()})
    txid = fast.pay(PAID, 21_000)
    entered = await client.wait_for(lambda f: txid in txids(f.get("address-transactions", [])))
    assert entered["address-transactions"][-1]["vout"][0]["scriptpubkey_address"] == PAID
    mined = await client.wait_for(lambda f: txid in txids(f.get("block-transactions", [])))
    [tx] = [tx for tx in mined["block-transactions"] if tx["txid"] == txid]
    assert tx["status"]["confirmed"] is True and tx["status"]["block_height"] == fast.tip_height


async def test_a_replaced_payment_is_reported_removed_then_the_replacement_confirms(
    make_sim: SimFactory, make_client: ClientFactory
) -> None:
    simulator = await make_sim(seed=SEED)
    address = replaced_address(SEED)
    multi, single = await make_client(simulator.ws_url), await make_client(simulator.ws_url)
    await single.send({"track-address": address})
    await multi.send({"track-addresses": [address]})
    first = (await multi.wait_for(lambda f: "multi-address-transactions" in f))["multi-address-transactions"][address]
    second = (await multi.wait_for(lambda f: "multi-address-transactions" in f))["multi-address-transactions"][address]
    [original], [replacement] = first["mempool"], second["mempool"]
    assert txids(second["removed"]) == [original["txid"]] and second["confirmed"] == []
    assert replacement["fee"] > original["fee"] and replacement["vin"][0]["txid"] == original["vin"][0]["txid"]
    mined = (await multi.wait_for(lambda f: "multi-address-transactions" in f))["multi-address-transactions"][address]
    assert txids(mined["confirmed"]) == [replacement["txid"]] and mined["mempool"] == mined["removed"] == []
    swap = await single.wait_for(lambda f: "address-removed-transactions" in f)
    assert txids(swap["address-removed-transactions"]) == [original["txid"]]
    assert txids(swap["address-transactions"]) == [replacement["txid"]]
    block = await single.wait_for(lambda f: "block-transactions" in f)
    assert txids(block["block-transactions"]) == [replacement["txid"]]
    init = json.loads(simulator.world.init_data())
    assert replacement["txid"] in txids(init["rbfSummary"])


async def test_untracking_stops_the_address_frames(fast: Simulator, make_client: ClientFactory) -> None:
    client = await make_client(fast.ws_url)
    await client.send({"action": "want", "data": ["stats"], "track-address": PAID})
    await client.wait_for(lambda f: "address-transactions" in f)
    await client.send({"track-address": "stop"})
    txid = fast.pay(PAID, 5_000)
    frames = await client.frames_until(lambda f: txid in json.dumps(f.get("transactions", [])))
    frames += await client.frames_until(lambda f: "mempoolInfo" in f and "transactions" not in f)
    assert not [f for f in frames if {"address-transactions", "block-transactions"} & set(f)]
