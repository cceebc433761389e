"""Assertions shared by the normalizer tests."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from ingestor.normalize import NormalizedFrame, Normalizer
from shared.events import (
    TOPIC_LIVE_2H,
    TOPIC_MEMPOOL_BLOCKS,
    TOPIC_STATS,
    Publication,
    is_address_topic,
    is_tx_topic,
    tx_topic,
)
from shared.models import AddressActivity, FeeChartPoint, MempoolBlocks, Stats, TxStatus
from tests.normalize import samples

P2WPKH = "bc1q563uveczer8sx7kd4c7a5h9c4me9dv36n9rgcg"
P2TR = "bc1p5hcw5a5z229z7zaz6xnlcasd5n9c4h48ls8nauv2swseerjgtcssqpnllh"
RECORDED_TXID = "b6a53d8a8025c0c5b194345925a99741b645cae0b1f180f0613273029f2bf698"
"""The txid in the recorded txPosition and txReplaced frames."""
TRACKED_TXID = "5e" * 32
"""The ``track-tx`` txid the tests pass, which ``txReplaced``/``rbfTransaction`` are about."""

_MODELS: dict[str, type[BaseModel]] = {
    TOPIC_STATS: Stats,
    TOPIC_MEMPOOL_BLOCKS: MempoolBlocks,
    TOPIC_LIVE_2H: FeeChartPoint,
}


def model_for(topic: str) -> type[BaseModel]:
    """The payload model of a topic this normalizer publishes on."""
    if is_address_topic(topic):
        return AddressActivity
    if is_tx_topic(topic):
        return TxStatus
    return _MODELS[topic]


def check_publication(publication: Publication, network: str, ts_ms: int) -> None:
    """The publication's data is exactly its model's JSON dump and its envelope encodes as UTF-8."""
    assert publication.network == network
    assert publication.ts_ms == ts_ms
    model = model_for(publication.topic).model_validate(publication.data)
    assert model.model_dump(mode="json") == publication.data
    if is_address_topic(publication.topic):
        assert publication.topic == f"address:{publication.data['address']}"
    if is_tx_topic(publication.topic):
        check_tx_status(publication.topic, publication.data)
    head, tail = publication.envelope_parts()
    encoded = f"{head}1{tail}".encode()
    assert json.loads(encoded)["data"] == publication.data


def check_tx_status(topic: str, data: dict[str, Any]) -> None:
    """A ``tx:{txid}`` event is about its topic's txid and its fields agree with its status."""
    assert topic == tx_topic(data["txid"])
    assert len(data["txid"]) == 64 and data["txid"] == data["txid"].lower()
    status = data["status"]
    assert (data["position"] is None) or status == "mempool"
    assert (data["replaced_by"] is not None) == (status == "replaced")
    if status != "confirmed":
        assert data["block_height"] is data["block_hash"] is data["confirmations"] is None
    elif data["block_height"] is not None:
        assert data["confirmations"] == 1 and data["block_hash"]


def check_frame(frame: NormalizedFrame, network: str = "mainnet", ts_ms: int = 1) -> None:
    """Every invariant a normalized frame keeps, whatever the input was."""
    assert isinstance(frame, NormalizedFrame)
    for publication in frame.publications:
        check_publication(publication, network, ts_ms)
    for block in [frame.new_block, *frame.blocks_snapshot]:
        if block is not None:
            assert type(block).model_validate(block.model_dump(mode="json")) == block
            json.dumps(block.model_dump(mode="json"), allow_nan=False, ensure_ascii=False).encode()
    heights = [block.height for block in frame.blocks_snapshot]
    assert heights == sorted(heights)
    assert all(isinstance(error, str) and error for error in frame.errors)
    assert set(frame.unknown_keys) <= set(frame.keys)
    assert set(frame.ignored_keys) <= set(frame.keys)
    assert not set(frame.unknown_keys) & set(frame.ignored_keys)
    for key in [*frame.keys, *frame.errors]:
        key.encode()


def topics(frame: NormalizedFrame) -> list[str]:
    """The topics of the frame's publications, in order."""
    return [publication.topic for publication in frame.publications]


def data_of(frame: NormalizedFrame, topic: str) -> dict[str, Any]:
    """The data of the single publication on ``topic``."""
    found = [publication.data for publication in frame.publications if publication.topic == topic]
    assert len(found) == 1, f"expected one {topic} publication, got {topics(frame)}"
    return found[0]


def addresses_in(value: object) -> set[str]:
    """Every ``scriptpubkey_address`` anywhere inside a decoded frame."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            address = item.get("scriptpubkey_address")
            if isinstance(address, str):
                found.add(address)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def normalize(frame: dict[str, Any], normalizer: Normalizer | None = None, **kwargs: Any) -> NormalizedFrame:
    """Normalize a decoded frame (received at 1 ms) and check the result's invariants."""
    result = (normalizer or Normalizer("mainnet")).normalize(samples.dumps(frame), received_ms=1, **kwargs)
    check_frame(result)
    return result
