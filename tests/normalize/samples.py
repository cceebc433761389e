"""Valid upstream values, taken from the fixtures, to build frames from."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.normalize.fixtures import read_fixture


def _load(relative: str) -> dict[str, Any]:
    value = json.loads(read_fixture(relative))
    assert isinstance(value, dict)
    return value


def stats_frame() -> dict[str, Any]:
    """composed/stats.json, decoded (a fresh copy)."""
    return _load("composed/stats.json")


def init_frame() -> dict[str, Any]:
    """The recorded init reply, decoded (a fresh copy)."""
    return _load("mainnet_mempoolInfo.json")


def block() -> dict[str, Any]:
    """One BlockExtended with extras (the newest of the init snapshot)."""
    return copy.deepcopy(init_frame()["blocks"][-1])


def chart_point() -> dict[str, Any]:
    """The composed current-shape live-2h-chart point."""
    point: dict[str, Any] = _load("composed/live-2h-chart.json")["live-2h-chart"]
    return point


def multi_address_value() -> dict[str, Any]:
    """The composed multi-address-transactions value (two addresses)."""
    value: dict[str, Any] = _load("composed/multi-address-transactions.json")["multi-address-transactions"]
    return value


def paying_tx() -> dict[str, Any]:
    """The composed address-transactions tx: pays the P2WPKH address 250,000 sats."""
    txs = _load("composed/address-transactions.json")["address-transactions"]
    return dict(txs[0])


def spending_tx() -> dict[str, Any]:
    """The composed tx spending 7,685,427 sats from the P2TR address (5,549,259 back as change)."""
    return dict(multi_address_value()["bc1p5hcw5a5z229z7zaz6xnlcasd5n9c4h48ls8nauv2swseerjgtcssqpnllh"]["mempool"][0])


def dumps(frame: dict[str, Any]) -> str:
    """A frame as the upstream serializes it."""
    return json.dumps(frame, separators=(",", ":"))


TX_A = "b6a53d8a8025c0c5b194345925a99741b645cae0b1f180f0613273029f2bf698"
TX_B = "0c" * 32
TX_CHILD = "7d" * 32


def tx_frames() -> dict[str, dict[str, Any]]:
    """Transaction-tracking frames in the backend's shapes (``websocket-handler.ts``), by name."""
    cpfp = {
        "ancestors": [],
        "bestDescendant": None,
        "descendants": [{"txid": TX_CHILD, "fee": 2210, "weight": 437}],
        "effectiveFeePerVsize": 9.25,
        "sigops": 1,
        "adjustedVsize": 140.25,
    }
    accelerated = {"accelerated": True, "acceleratedBy": [111, 44], "acceleratedAt": 1770000000, "feeDelta": 5120}
    return {
        "track-txs-reply": {
            "tracked-txs": {
                TX_A: {"position": {"block": 3, "vsize": 412001.5}, "confirmed": False},
                TX_B: {"replacedBy": TX_CHILD, "confirmed": False},
            }
        },
        "mempool-update": {
            "utxoSpent": {"1": {"vin": 0, "txid": TX_CHILD}},
            "txPosition": {
                "txid": TX_A,
                "position": {"block": 0, "vsize": 20117.25, **accelerated},
                "accelerationPositions": [{"poolId": 111, "block": 0, "vsize": 70.125}],
                "cpfp": {**cpfp, "acceleration": True},
            },
            "tracked-txs": {
                TX_A: {
                    "utxoSpent": {"1": {"vin": 0, "txid": TX_CHILD}},
                    "position": {"block": 0, "vsize": 20117.25, **accelerated},
                    "cpfp": cpfp,
                },
                TX_B: {"replacedBy": TX_CHILD},
            },
        },
        "replacement": {
            "rbfTransaction": {"txid": TX_CHILD},
            "rbfInfo": {"tx": {"txid": TX_CHILD, "rbf": True}, "time": 1770000000, "fullRbf": False, "replaces": []},
        },
        "new-block": {
            "block": block(),
            "txConfirmed": TX_A,
            "tracked-txs": {TX_A: {"confirmed": True}, TX_B: {"position": {"block": 1, "vsize": 5}, **accelerated}},
        },
        "track-txs-error": {
            "track-txs-error": "too many txids requested, this connection supports tracking a maximum of 100 "
            "transactions"
        },
    }
