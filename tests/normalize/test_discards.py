"""Every discard path: one error per discarded part, the good keys of the frame kept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ingestor.normalize import Normalizer
from tests.normalize import samples
from tests.normalize.helpers import P2WPKH, check_frame, data_of, normalize, topics


def _with_fee_range(value: list[Any]) -> list[dict[str, Any]]:
    blocks = samples.stats_frame()["mempool-blocks"]
    blocks[2]["feeRange"] = value
    return list(blocks)


def _without(value: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: item for name, item in value.items() if name != key}


def _chart(**changes: Any) -> dict[str, Any]:
    return {**samples.chart_point(), **changes}


def _block_with_pool(pool: Any) -> dict[str, Any]:
    block = samples.block()
    block["extras"]["pool"] = pool
    return block


DISCARDS: list[tuple[str, Any, str]] = [
    ("mempool-blocks", "nope", "mempool-blocks: expected an array, got a string"),
    ("mempool-blocks", [{"blockSize": 1}], "mempool-blocks: [0].blockVSize: expected a number, got nothing"),
    (
        "mempool-blocks",
        _with_fee_range([1, float("nan")]),
        "mempool-blocks: [2].feeRange[1]: expected a finite",
    ),
    (
        "mempool-blocks",
        _with_fee_range([1, True]),
        "mempool-blocks: [2].feeRange[1]: expected a number, got a bo",
    ),
    ("mempoolInfo", None, "mempoolInfo: expected an object, got null"),
    (
        "mempoolInfo",
        _without(samples.stats_frame()["mempoolInfo"], "size"),
        "mempoolInfo: size: expected an int",
    ),
    (
        "mempoolInfo",
        {"size": 1, "bytes": 2, "mempoolminfee": 1e305},
        "mempoolInfo: mempoolminfee: number out of range",
    ),
    ("vBytesPerSecond", "1873", "vBytesPerSecond: expected a number, got a string"),
    ("vBytesPerSecond", True, "vBytesPerSecond: expected a number, got a boolean"),
    (
        "fees",
        {**samples.stats_frame()["fees"], "hourFee": float("inf")},
        "fees: hourFee: expected a finite number",
    ),
    ("fees", {**samples.stats_frame()["fees"], "hourFee": 10**30}, "fees: hourFee: number out of range"),
    ("da", [], "da: expected an object, got an array"),
    (
        "da",
        {**samples.stats_frame()["da"], "remainingBlocks": 1.5},
        "da: remainingBlocks: expected an integer",
    ),
    ("live-2h-chart", _chart(vsizes=[1, 2, 3]), "live-2h-chart: vsizes: 3 bands, expected 39"),
    ("live-2h-chart", _chart(added="yesterday"), "live-2h-chart: added: not an ISO 8601 date"),
    ("live-2h-chart", _chart(count=None), "live-2h-chart: count: expected an integer, got null"),
    ("live-2h-chart", {"added": 1}, "live-2h-chart: no vsizes and no vsizeN columns"),
    ("block", _without(samples.block(), "height"), "block: height: expected an integer, got nothing"),
    ("block", _block_with_pool({"id": 1}), "block: extras.pool.name: expected a string, got nothing"),
    ("block", {**samples.block(), "id": "\ud800"}, "block: id: string is not valid Unicode"),
    ("blocks", {"a": 1}, "blocks: expected an array, got an object"),
    ("multi-address-transactions", [], "multi-address-transactions: expected an object, got an array"),
    ("address-transactions", {}, "address-transactions: expected an array, got an object"),
    ("block-transactions", [5], "block-transactions: [0]: expected an object, got an integer"),
    ("pong", False, "pong: expected true, got a boolean"),
    ("track-addresses-error", 5, "track-addresses-error: expected a string, got an integer"),
    ("track-scriptpubkeys-error", ["x"], "track-scriptpubkeys-error: expected a string, got an array"),
    ("track-txs-error", 5, "track-txs-error: expected a string, got an integer"),
    ("txPosition", {"txid": "ab"}, "txPosition: txid: expected a txid (64 hex digits), got 2 characters"),
    ("txPosition", {"txid": samples.TX_A}, "txPosition: position: expected an object, got nothing"),
    (
        "txPosition",
        {"txid": samples.TX_A, "position": {"block": -1, "vsize": 5}},
        "txPosition: position.block: expected a non-negative number, got -1",
    ),
    (
        "txPosition",
        {"txid": samples.TX_A, "position": {"block": 1, "vsize": 5}, "cpfp": {"effectiveFeePerVsize": "9"}},
        "txPosition: cpfp.effectiveFeePerVsize: expected a number, got a string",
    ),
    (
        "txPosition",
        {"txid": samples.TX_A, "position": {"block": 1, "vsize": 5, "accelerated": 1}},
        "txPosition: position.accelerated: expected a boolean, got an integer",
    ),
    ("txConfirmed", 5, "txConfirmed: expected a string, got an integer"),
    ("txConfirmed", "\ud800", "txConfirmed: string is not valid Unicode"),
    ("rbfTransaction", {"txid": samples.TX_B}, "rbfTransaction: names no tracked transaction"),
    ("txReplaced", [samples.TX_B], "txReplaced: expected an object, got an array"),
    ("tracked-txs", [], "tracked-txs: expected an object, got an array"),
    ("tracked-txs", {samples.TX_A: {"confirmed": "yes"}}, f"tracked-txs: {samples.TX_A}.confirmed: expected a boolean"),
]


@pytest.mark.parametrize(("key", "value", "error"), DISCARDS, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(DISCARDS)])
def test_each_discard_yields_one_error_and_keeps_the_good_keys(key: str, value: Any, error: str) -> None:
    frame = samples.stats_frame()
    frame[key] = value
    result = normalize(frame, tracked=[P2WPKH])
    assert len(result.errors) == 1, result.errors
    assert result.errors[0].startswith(error), result.errors
    expected = ["stats"] if key == "mempool-blocks" else ["stats", "mempool-blocks"]
    assert topics(result) == expected
    stats = data_of(result, "stats")
    assert stats["mempool"] is not None or key == "mempoolInfo"
    assert result.new_block is None


def test_a_control_reply_of_the_wrong_type_still_signals() -> None:
    result = normalize({"track-addresses-error": 5, "track-scriptpubkeys-error": "too many"})
    assert result.control.track_addresses_error == "(not a string: an integer)"
    assert result.control.track_scriptpubkeys_error == "too many"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"\xff\xfe{}", "frame: not UTF-8 text"),
        ("not json", "frame: invalid JSON"),
        ("", "frame: invalid JSON"),
        ('{"pong": true', "frame: invalid JSON"),
        ("[1, 2]", "frame: expected an object, got an array"),
        ("3", "frame: expected an object, got an integer"),
        ("null", "frame: expected an object, got null"),
        ('"text"', "frame: expected an object, got a string"),
        ("[" * 100_000 + "]" * 100_000, "frame: invalid JSON"),
        ('{"fees": ' + "9" * 5000 + "}", "frame: invalid JSON"),
        (12345, "frame: expected text or bytes, got int"),
    ],
)
def test_unreadable_frames_yield_one_frame_error(raw: Any, error: str) -> None:
    result = Normalizer("mainnet").normalize(raw, received_ms=1)
    check_frame(result)
    assert len(result.errors) == 1
    assert result.errors[0].startswith(error), result.errors
    assert (result.publications, result.keys) == ([], [])


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, str])
def test_text_and_binary_frames_are_accepted(kind: Any) -> None:
    fees = {"fastestFee": 2, "halfHourFee": 1, "hourFee": 1, "economyFee": 1, "minimumFee": 1}
    text = json.dumps({"pong": True, "fees": fees})
    raw = text if kind is str else kind(text.encode())
    result = Normalizer("mainnet").normalize(raw, received_ms=1)
    assert result.control.pong
    assert topics(result) == ["stats"]


def test_non_finite_literals_and_huge_numbers_are_errors_not_crashes() -> None:
    text = (
        '{"vBytesPerSecond": NaN, "fees": {"fastestFee": 1e400, "halfHourFee": 1, "hourFee": 1,'
        ' "economyFee": 1, "minimumFee": 1}, "mempoolInfo": {"size": 1e30, "bytes": 1},'
        ' "da": {"progressPercent": -Infinity}, "mempool-blocks": []}'
    )
    result = Normalizer("mainnet").normalize(text, received_ms=1)
    check_frame(result)
    assert [error.split(":")[0] for error in result.errors] == [
        "vBytesPerSecond",
        "fees",
        "mempoolInfo",
        "da",
    ]
    assert data_of(result, "mempool-blocks") == {
        "blocks": [],
        "total_vsize_vb": 0.0,
        "next_block_median_fee_rate": None,
    }


def test_lone_surrogates_in_keys_are_escaped() -> None:
    result = Normalizer("mainnet").normalize('{"\\ud800x": 1}', received_ms=1)
    assert result.unknown_keys == ["\\ud800x"]
    assert json.dumps(result.keys).encode()
