"""Transaction-tracking frames into ``tx:{txid}`` events: merging, blocks, memory, discards, simulator frames."""

from __future__ import annotations

import json
from typing import Any

from ingestor.normalize import Normalizer
from ingestor.normalize.txs import Observation, TxMemory
from shared.events import address_topic, is_tx_topic, tx_topic
from shared.metrics import topic_label
from shared.settings import SimSettings
from simulator.events import Event
from simulator.protocol import ConnectionState
from simulator.world import World
from tests.normalize import samples
from tests.normalize.helpers import P2WPKH, TRACKED_TXID, data_of, normalize, topics

TX_A, TX_B, TX_CHILD = samples.TX_A, samples.TX_B, samples.TX_CHILD


def tx_events(frame: Any) -> dict[str, dict[str, Any]]:
    return {p.data["txid"]: p.data for p in frame.publications if is_tx_topic(p.topic)}


def test_a_mempool_update_merges_every_key_about_a_txid_into_one_event() -> None:
    frame = normalize(samples.tx_frames()["mempool-update"])
    assert topics(frame) == [tx_topic(TX_A), tx_topic(TX_B)]
    assert frame.ignored_keys == ["utxoSpent"] and frame.errors == []
    events = tx_events(frame)
    assert events[TX_A]["status"] == "mempool" and events[TX_A]["accelerated"] is True
    assert events[TX_A]["position"] == {"block_index": 0, "vsize_ahead_vb": 20117.25, "effective_fee_rate": 9.25}
    assert (events[TX_B]["status"], events[TX_B]["replaced_by"]) == ("replaced", TX_CHILD)


def test_the_first_track_txs_reply_and_a_replacement_of_the_tracked_tx() -> None:
    events = tx_events(normalize(samples.tx_frames()["track-txs-reply"]))
    assert events[TX_A]["position"] == {"block_index": 3, "vsize_ahead_vb": 412001.5, "effective_fee_rate": None}
    assert events[TX_B]["status"] == "replaced" and events[TX_B]["replaced_by"] == TX_CHILD
    replaced = normalize(samples.tx_frames()["replacement"], tracked_tx=TRACKED_TXID)
    assert topics(replaced) == [tx_topic(TRACKED_TXID)] and replaced.ignored_keys == ["rbfInfo"]
    assert data_of(replaced, tx_topic(TRACKED_TXID))["replaced_by"] == TX_CHILD


def test_a_confirmation_takes_height_hash_and_time_from_the_block_in_its_frame() -> None:
    frame = normalize(samples.tx_frames()["new-block"])
    block = samples.block()
    assert frame.new_block is not None and frame.new_block.height == block["height"]
    confirmed = tx_events(frame)[TX_A]
    assert confirmed == {
        "txid": TX_A,
        "status": "confirmed",
        "position": None,
        "block_height": block["height"],
        "block_hash": block["id"],
        "block_time_unix_s": block["timestamp"],
        "confirmations": 1,
        "replaced_by": None,
        "accelerated": False,
    }
    moved = tx_events(frame)[TX_B]
    assert moved["position"]["block_index"] == 1 and moved["accelerated"] is True
    alone = tx_events(normalize({"txConfirmed": TX_A.upper()}))[TX_A]
    assert (alone["status"], alone["block_height"], alone["confirmations"]) == ("confirmed", None, None)


def test_the_effective_rate_and_acceleration_are_remembered_until_the_transaction_is_done() -> None:
    normalizer = Normalizer("mainnet")
    frames = samples.tx_frames()
    normalize(frames["mempool-update"], normalizer)
    later = {"tracked-txs": {TX_A: {"position": {"block": 0, "vsize": 10}}}}
    position = tx_events(normalize(later, normalizer))[TX_A]["position"]
    assert position == {"block_index": 0, "vsize_ahead_vb": 10.0, "effective_fee_rate": 9.25}
    accelerated = {"tracked-txs": {TX_A: {"position": {"block": 0, "vsize": 10, "accelerated": True}}}}
    normalize(accelerated, normalizer)
    confirmed = tx_events(normalize({"txConfirmed": TX_A}, normalizer))[TX_A]
    assert confirmed["accelerated"] is True
    again = tx_events(normalize(later, normalizer))[TX_A]
    assert again["position"]["effective_fee_rate"] is None and again["accelerated"] is False


def test_the_memory_is_bounded() -> None:
    memory = TxMemory(size=2)
    for index in range(5):
        memory.resolve(f"{index:064x}", Observation("mempool", 0, 1.0, float(index)))
    assert len(memory) == 2
    assert memory.resolve(f"{4:064x}", Observation("mempool")) == (4.0, False)
    assert memory.resolve(f"{0:064x}", Observation("mempool")) == (None, False)


def test_one_bad_tracked_entry_is_discarded_the_others_kept() -> None:
    value = {
        TX_A: {"position": {"block": 2, "vsize": "far"}},
        "not-a-txid": {"confirmed": True},
        TX_B: {"confirmed": True},
        TX_CHILD: {"utxoSpent": {"0": {"vin": 0, "txid": TX_A}}},
        "ff" * 32: {"replacedBy": "nope"},
        "ee" * 32: 5,
    }
    frame = normalize({"tracked-txs": value})
    assert topics(frame) == [tx_topic(TX_B)]
    assert frame.errors == [
        f"tracked-txs: {TX_A}.position.vsize: expected a number, got a string",
        "tracked-txs: not-a-txid: expected a txid (64 hex digits), got 10 characters",
        f"tracked-txs: {'ff' * 32}.replacedBy: expected a txid (64 hex digits), got 4 characters",
        f"tracked-txs: {'ee' * 32}: expected an object, got an integer",
    ]


def test_the_track_txs_error_goes_to_control() -> None:
    frame = normalize(samples.tx_frames()["track-txs-error"])
    assert frame.publications == [] and frame.errors == []
    assert frame.control.track_txs_error == (
        "too many txids requested, this connection supports tracking a maximum of 100 transactions"
    )


def test_frames_from_the_simulator_follow_a_payment_from_its_position_to_its_confirmation() -> None:
    start = 1_770_000_000.0
    world = World(SimSettings(seed=9, speed=0.001, tick_s=0.05, anchor_unix_s=start), start)
    conn = ConnectionState(world, 10)
    normalizer = Normalizer("mainnet")
    seen: list[dict[str, Any]] = []

    def feed(events: list[Event]) -> None:
        for event in events:
            text = conn.render(event)
            if text is not None:
                frame = normalizer.normalize(text, received_ms=1, tracked_tx=txid)
                assert frame.errors == []
                seen.extend(tx_events(frame).values())

    txid = world.pay(P2WPKH, 20_000, start, rate=0.5)
    assert conn.receive(json.dumps({"action": "want", "data": ["blocks"], "track-txs": [txid]}), 0).close is None
    feed(world.advance(start + 0.05))
    first = seen[-1]["position"]
    assert first["block_index"] >= 2 and first["effective_fee_rate"] is None
    _, effective, events = world.bump_now(txid, start + 0.05, rate=15.0)
    feed(events)
    assert seen[-1]["position"]["effective_fee_rate"] == effective
    feed(world.advance(start + 0.1))
    assert seen[-1]["position"]["effective_fee_rate"] == effective and seen[-1]["position"]["block_index"] == 0
    block, events = world.mine_now(start + 0.2)
    feed(events)
    assert seen[-1] == {
        "txid": txid,
        "status": "confirmed",
        "position": None,
        "block_height": block["height"],
        "block_hash": block["id"],
        "block_time_unix_s": block["timestamp"],
        "confirmations": 1,
        "replaced_by": None,
        "accelerated": False,
    }


def test_tx_topics_share_one_metric_label_like_address_topics() -> None:
    assert topic_label(tx_topic(TX_A)) == "tx"
    assert topic_label(address_topic(P2WPKH)) == "address"
    assert topic_label("stats") == "stats"
