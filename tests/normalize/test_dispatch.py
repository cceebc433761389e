"""Dispatch on keys, key order, the stats merge and the lists of unknown and ignored keys."""

from __future__ import annotations

from typing import Any

from ingestor.normalize import ControlReplies, Normalizer
from tests.normalize import samples
from tests.normalize.helpers import P2TR, P2WPKH, check_frame, data_of, normalize, topics


def test_many_keys_in_one_frame_are_dispatched_in_key_order() -> None:
    stats = samples.stats_frame()
    frame = {
        "block": samples.block(),
        "mempoolInfo": stats["mempoolInfo"],
        "vBytesPerSecond": 1500,
        "fees": stats["fees"],
        "da": stats["da"],
        "mempool-blocks": stats["mempool-blocks"],
        "multi-address-transactions": samples.multi_address_value(),
        "conversions": {"time": 1, "USD": 90000},
        "live-2h-chart": samples.chart_point(),
        "pong": True,
        "brandNewKey": {"x": 1},
    }
    result = normalize(frame)
    assert topics(result) == [
        "stats",
        "mempool-blocks",
        f"address:{P2WPKH}",
        f"address:{P2TR}",
        "live-2h-chart",
    ]
    assert result.keys == list(frame)
    assert result.unknown_keys == ["brandNewKey"]
    assert result.ignored_keys == ["conversions"]
    assert result.errors == []
    assert result.control == ControlReplies(pong=True)
    assert result.new_block is not None
    assert (result.new_block.height, result.new_block.source) == (837050, "live")
    assert result.blocks_snapshot == []
    assert data_of(result, "stats")["vbytes_per_second"] == 1500.0


def test_publications_carry_network_and_receive_time() -> None:
    result = Normalizer("testnet4").normalize(samples.dumps(samples.stats_frame()), received_ms=1234)
    check_frame(result, network="testnet4", ts_ms=1234)
    assert [publication.ts_ms for publication in result.publications] == [1234, 1234]


def test_stats_merge_with_the_newest_parts_of_earlier_frames() -> None:
    normalizer = Normalizer("mainnet")
    first = samples.stats_frame()
    normalize(first, normalizer)
    new_fees = {"fastestFee": 3.5, "halfHourFee": 2.25, "hourFee": 1.0, "economyFee": 0.5, "minimumFee": 0.1}
    stats = data_of(normalize({"fees": new_fees}, normalizer), "stats")
    assert stats["updated"] == ["fees"]
    assert stats["fees"]["fastest"] == 3.5
    assert stats["mempool"]["tx_count"] == 41385
    assert stats["vbytes_per_second"] == 1873.0
    assert stats["difficulty_adjustment"]["remaining_blocks"] == 178
    later = data_of(normalize({"vBytesPerSecond": 99, "da": first["da"]}, normalizer), "stats")
    assert later["updated"] == ["vbytes_per_second", "difficulty_adjustment"]
    assert later["fees"]["fastest"] == 3.5


def test_first_stats_has_only_the_parts_seen_so_far() -> None:
    stats = data_of(normalize({"vBytesPerSecond": 10}), "stats")
    assert stats == {
        "mempool": None,
        "vbytes_per_second": 10.0,
        "fees": None,
        "difficulty_adjustment": None,
        "updated": ["vbytes_per_second"],
    }


def test_a_stats_part_that_fails_is_discarded_and_the_previous_value_kept() -> None:
    normalizer = Normalizer("mainnet")
    normalize(samples.stats_frame(), normalizer)
    broken = normalize({"fees": {"fastestFee": "fast"}}, normalizer)
    assert broken.publications == []
    assert broken.errors == ["fees: fastestFee: expected a number, got a string"]
    stats = data_of(normalize({"vBytesPerSecond": 5, "fees": None}, normalizer), "stats")
    assert stats["updated"] == ["vbytes_per_second"]
    assert stats["fees"]["fastest"] == 1.719


def test_stats_publication_sits_at_the_first_stats_key() -> None:
    stats = samples.stats_frame()
    frame = {
        "mempool-blocks": stats["mempool-blocks"],
        "fees": stats["fees"],
        "live-2h-chart": samples.chart_point(),
    }
    frame["da"] = stats["da"]
    assert topics(normalize(frame)) == ["mempool-blocks", "stats", "live-2h-chart"]


def test_unknown_and_ignored_keys_are_listed_not_published() -> None:
    frame: dict[str, Any] = {
        "loadingIndicators": {},
        "backendInfo": {"hostname": "x"},
        "backend": "esplora",
        "rbfSummary": [],
        "transactions": [],
        "utxoSpent": {"0": {"vin": 0, "txid": "ab"}},
        "multi-scriptpubkey-transactions": {"0014ab": {"mempool": [], "confirmed": [], "removed": []}},
        "tomahawk": None,
        "future-key": [1],
        "anotherOne": None,
    }
    result = normalize(frame)
    assert result.publications == []
    assert result.errors == []
    assert result.unknown_keys == ["future-key", "anotherOne"]
    assert result.ignored_keys == list(frame)[:8]
