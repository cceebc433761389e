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
