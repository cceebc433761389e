"""Every fixture frame (recorded and composed) normalizes into the right events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ingestor.normalize import Normalizer
from ingestor.normalize.dispatch import IGNORED_KEYS, KNOWN_KEYS
from ingestor.normalize.txs import TX_KEYS
from shared.events import is_address_topic, is_tx_topic, tx_topic
from shared.models import FEE_BAND_FLOORS
from tests.normalize import fixtures
from tests.normalize.fixtures import fixture_files, fixtures_dir, read_fixture
from tests.normalize.helpers import (
    P2TR,
    P2WPKH,
    RECORDED_TXID,
    TRACKED_TXID,
    addresses_in,
    check_frame,
    data_of,
    normalize,
    topics,
)

STATS_KEYS = {"mempoolInfo", "vBytesPerSecond", "fees", "da"}
ADDRESS_KEYS = {
    "multi-address-transactions",
    "address-transactions",
    "address-removed-transactions",
    "block-transactions",
}


def _fixture_params() -> list[Any]:
    try:
        files = fixture_files()
    except FileNotFoundError as exc:
        return [pytest.param(exc, id="fixtures-missing")]
    folder = fixtures_dir()
    return [pytest.param(path, id=str(path.relative_to(folder))) for path in files]


def _expected_topics(frame: dict[str, Any]) -> set[str]:
    expected: set[str] = set()
    for key in frame:
        if key in STATS_KEYS:
            expected.add("stats")
        elif key in ("mempool-blocks", "live-2h-chart"):
            expected.add(key)
    return expected


def test_fixtures_folder_is_found_and_holds_the_known_frames() -> None:
    folder = fixtures_dir()
    names = {str(path.relative_to(folder)) for path in fixture_files()}
    assert {"mainnet_mempoolInfo.json", "tx01_ws_blocks_01.json", "composed/stats.json"} <= names


def test_fixtures_dir_tries_env_then_sibling_then_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir, repo = tmp_path / "env", tmp_path / "repo"
    sibling = tmp_path / "shared" / "fixtures" / "mempool-upstream"
    fallback = tmp_path / "fallback"
    monkeypatch.setattr(fixtures, "REPO_ROOT", repo)
    monkeypatch.setattr(fixtures, "_FALLBACK", fallback)
    monkeypatch.setenv(fixtures.FIXTURES_ENV, str(env_dir))
    with pytest.raises(FileNotFoundError, match=fixtures.FIXTURES_ENV):
        fixtures_dir()
    fallback.mkdir()
    assert fixtures_dir() == fallback
    sibling.mkdir(parents=True)
    assert fixtures_dir() == sibling
    env_dir.mkdir()
    assert fixtures_dir() == env_dir


@pytest.mark.parametrize("path", _fixture_params())
def test_every_fixture_file_normalizes_into_its_topics(path: Path | FileNotFoundError) -> None:
    if isinstance(path, FileNotFoundError):
        pytest.fail(str(path))
    raw = path.read_bytes()
    decoded = json.loads(raw)
    assert isinstance(decoded, dict), f"{path} is not a JSON object"
    tracked = sorted(addresses_in(decoded))
    frame = Normalizer("mainnet").normalize(raw, received_ms=1, tracked=tracked, tracked_tx=TRACKED_TXID)
    check_frame(frame)
    assert frame.errors == []
    assert frame.keys == list(decoded)
    assert frame.unknown_keys == [key for key in decoded if key not in KNOWN_KEYS]
    assert frame.ignored_keys == [key for key in decoded if key in IGNORED_KEYS]
    shared_topics = {topic for topic in topics(frame) if not is_address_topic(topic) and not is_tx_topic(topic)}
    assert shared_topics == _expected_topics(decoded)
    assert any(is_address_topic(topic) for topic in topics(frame)) == bool(ADDRESS_KEYS & set(decoded))
    assert any(is_tx_topic(topic) for topic in topics(frame)) == bool(set(TX_KEYS) & set(decoded))
    if "block" in decoded:
        assert frame.new_block is not None
        assert frame.new_block.source == "live"
    assert len(frame.blocks_snapshot) == len(decoded.get("blocks", []))


def test_init_reply() -> None:
    frame = Normalizer("mainnet").normalize(read_fixture("mainnet_mempoolInfo.json"), received_ms=7)
    assert topics(frame) == ["stats", "mempool-blocks"]
    assert frame.ignored_keys == [
        "transactions",
        "loadingIndicators",
        "rbfSummary",
        "conversions",
        "backendInfo",
    ]
    stats = data_of(frame, "stats")
    assert stats["updated"] == ["mempool", "vbytes_per_second", "fees", "difficulty_adjustment"]
    assert stats["fees"] == {"fastest": 8.0, "half_hour": 8.0, "hour": 8.0, "economy": 4.0, "minimum": 2.0}
    assert stats["vbytes_per_second"] == 2364.0
    mempool = stats["mempool"]
    assert (mempool["tx_count"], mempool["vsize_vb"], mempool["memory_usage_bytes"]) == (
        112686,
        175691391,
        856780672,
    )
    assert mempool["total_fee_btc"] == 5.10536864
    assert mempool["min_fee_rate"] == 1.305
    assert mempool["min_relay_fee_rate"] == 1.0
    assert mempool["max_mempool_bytes"] == 300000000
    da = stats["difficulty_adjustment"]
    assert da["remaining_blocks"] == 1606
    assert da["next_retarget_height"] == 838656
    assert da["estimated_retarget_unix_ms"] == 1712766704114
    assert da["remaining_time_ms"] == 911596114
    assert da["previous_retarget_unix_s"] == 1711619463
    assert da["progress_percent"] == pytest.approx(20.3373, abs=1e-4)
    snapshot = frame.blocks_snapshot
    assert [block.height for block in snapshot] == list(range(837043, 837051))
    assert {block.source for block in snapshot} == {"snapshot"}
    first = snapshot[0]
    assert first.hash == "0000000000000000000200e0829f5dd72b02401660837bf67379f6a7adf4d8c9"
    assert first.previous_hash == "000000000000000000011cefb2db6b82b6ae69b4ec06eedc81fc85d16f97865d"
    assert first.pool is not None and (first.pool.id, first.pool.name, first.pool.slug) == (
        111,
        "Foundry USA",
        "foundryusa",
    )
    assert (first.reward_sats, first.total_fees_sats, first.vsize_vb) == (635081690, 10081690, 998184.5)
    assert len(first.fee_range) == 7
    assert frame.new_block is None
    projected = data_of(frame, "mempool-blocks")["blocks"]
    assert len(projected) == 8
    assert len(projected[-1]["fee_range"]) == 11


def test_blocks_and_mempool_blocks_snapshot() -> None:
    frame = Normalizer("mainnet").normalize(read_fixture("tx01_ws_blocks_01.json"), received_ms=1)
    assert topics(frame) == ["mempool-blocks"]
    assert [block.height for block in frame.blocks_snapshot] == list(range(890440, 890448))
    last = frame.blocks_snapshot[-1]
    assert last.pool is not None and last.pool.name == "Braiins Pool"
    assert (last.tx_count, last.weight_wu, last.vsize_vb, last.match_rate) == (1919, 3993172, 998293.0, 100.0)
    assert last.difficulty == 113757508810854.0
    assert len(data_of(frame, "mempool-blocks")["blocks"]) == 4


def test_composed_stats_has_sub_sat_fees_and_a_stack_block() -> None:
    frame = Normalizer("mainnet").normalize(read_fixture("composed/stats.json"), received_ms=1)
    assert topics(frame) == ["stats", "mempool-blocks"]
    assert frame.ignored_keys == ["transactions"]
    stats = data_of(frame, "stats")
    assert stats["fees"] == {
        "fastest": 1.719,
        "half_hour": 1.165,
        "hour": 0.613,
        "economy": 0.2,
        "minimum": 0.1,
    }
    assert stats["mempool"]["min_fee_rate"] == 0.1
    assert stats["mempool"]["total_fee_btc"] == 0.06080267
    assert stats["difficulty_adjustment"]["time_avg_ms"] == 599248.0
    assert stats["difficulty_adjustment"]["expected_blocks"] == pytest.approx(1835.698, abs=1e-3)
    mempool_blocks = data_of(frame, "mempool-blocks")
    blocks = mempool_blocks["blocks"]
    assert [block["index"] for block in blocks] == list(range(8))
    assert len(blocks[-1]["fee_range"]) == 11
    assert blocks[-1]["vsize_vb"] == 6402117.75
    assert blocks[0] == {
        "index": 0,
        "size_bytes": 1618433,
        "vsize_vb": 997941.25,
        "tx_count": 3012,
        "total_fees_sats": 3906932,
        "median_fee_rate": 1.2187,
        "fee_range": blocks[0]["fee_range"],
    }
    assert mempool_blocks["next_block_median_fee_rate"] == 1.2187
    assert mempool_blocks["total_vsize_vb"] == pytest.approx(sum(block["vsize_vb"] for block in blocks))


def test_plain_mempool_blocks_update_with_integer_fee_ranges() -> None:
    frame = Normalizer("mainnet").normalize(read_fixture("tx01_ws_mempool_blocks_01.json"), received_ms=1)
    data = data_of(frame, "mempool-blocks")
    assert [block["vsize_vb"] for block in data["blocks"]] == [997989.75, 997996.0, 997927.5, 435137.0]
    assert data["blocks"][0]["fee_range"][1] == 2.0
    assert data["blocks"][3]["median_fee_rate"] == 0.0


def test_composed_live_2h_chart() -> None:
    frame = Normalizer("mainnet").normalize(read_fixture("composed/live-2h-chart.json"), received_ms=1)
    point = data_of(frame, "live-2h-chart")
    assert len(point["vsize_by_fee_band"]) == 39
    assert point["fee_band_floors"] == list(FEE_BAND_FLOORS)
    assert point["vsize_by_fee_band"][:2] == [9120433, 2871190]
    assert (point["added_unix_s"], point["tx_count"], point["vbytes_per_second"]) == (
        1763164740,
        41173,
        1873.0,
    )
    assert (point["total_fee_sats"], point["min_fee_rate"]) == (6070456, 0.1)
    assert point["mempool_byte_weight"] == 4 * sum(point["vsize_by_fee_band"])


def test_composed_multi_address_transactions() -> None:
    frame = Normalizer("mainnet").normalize(read_fixture("composed/multi-address-transactions.json"), received_ms=1)
    assert topics(frame) == [f"address:{P2WPKH}", f"address:{P2TR}"]
    paid = data_of(frame, f"address:{P2WPKH}")
    assert (paid["confirmed"], paid["removed"]) == ([], [])
    assert paid["mempool"] == [
        {
            "txid": "2be89a8903e51a414f54a05cf5f08d99f75adfd11fea278cc63537d6b71e5b76",
            "received_sats": 1000000,
            "sent_sats": 0,
            "net_sats": 1000000,
            "fee_sats": 1130,
            "vsize_vb": 141.0,
            "fee_rate": 8.057040998217468,
            "confirmed": False,
            "block_height": None,
            "block_hash": None,
            "block_time_unix_s": None,
            "first_seen_unix_s": 1763164740,
        }
    ]
    (spent,) = data_of(frame, f"address:{P2TR}")["mempool"]
    assert (spent["received_sats"], spent["sent_sats"], spent["net_sats"]) == (5549259, 7685427, -2136168)
    assert (spent["fee_sats"], spent["fee_rate"], spent["vsize_vb"]) == (231, 1.5, 154.0)


def test_composed_single_address_transactions_need_the_tracked_list() -> None:
    raw = read_fixture("composed/address-transactions.json")
    frame = Normalizer("mainnet").normalize(raw, received_ms=1, tracked=[P2WPKH, P2TR])
    assert topics(frame) == [f"address:{P2WPKH}"]
    (tx,) = data_of(frame, f"address:{P2WPKH}")["mempool"]
    assert (tx["received_sats"], tx["sent_sats"], tx["net_sats"], tx["fee_sats"]) == (250000, 0, 250000, 285)
    assert (tx["first_seen_unix_s"], tx["confirmed"]) == (1763164739, False)
    untracked = Normalizer("mainnet").normalize(raw, received_ms=1)
    assert untracked.publications == []
    assert len(untracked.errors) == 1
    assert untracked.errors[0].startswith("address-transactions: [0]: touches no tracked address")


def test_composed_track_addresses_error_goes_to_control() -> None:
    frame = Normalizer("mainnet").normalize(read_fixture("composed/track-addresses-error.json"), received_ms=1)
    assert frame.publications == []
    assert frame.errors == []
    assert frame.control.track_addresses_error == (
        "too many addresses requested, this connection supports tracking a maximum of 10 addresses"
    )
    assert frame.control.pong is False
    assert frame.control.track_scriptpubkeys_error is None


def test_recorded_tx_position_is_a_mempool_event_on_the_tx_topic() -> None:
    frame = Normalizer("mainnet").normalize(read_fixture("tx02_ws_tx_position.json"), received_ms=1)
    assert (topics(frame), frame.errors, frame.ignored_keys) == ([tx_topic(RECORDED_TXID)], [], [])
    assert data_of(frame, tx_topic(RECORDED_TXID)) == {
        "txid": RECORDED_TXID,
        "status": "mempool",
        "position": {"block_index": 0, "vsize_ahead_vb": 110880.0, "effective_fee_rate": None},
        "block_height": None,
        "block_hash": None,
        "block_time_unix_s": None,
        "confirmations": None,
        "replaced_by": None,
        "accelerated": False,
    }


def test_recorded_tx_replaced_names_the_replacing_txid_of_the_tracked_transaction() -> None:
    raw = read_fixture("tx01_ws_tx_replaced.json")
    frame = normalize(json.loads(raw), tracked_tx=TRACKED_TXID.upper())
    assert topics(frame) == [tx_topic(TRACKED_TXID)] and frame.errors == []
    data = data_of(frame, tx_topic(TRACKED_TXID))
    assert (data["status"], data["replaced_by"], data["position"]) == ("replaced", RECORDED_TXID, None)
    untracked = Normalizer("mainnet").normalize(raw, received_ms=1)
    assert untracked.publications == []
    assert untracked.errors == ["txReplaced: names no tracked transaction (no track-tx txid given)"]


def test_recorded_mempool_update_with_a_position_publishes_both() -> None:
    frame = Normalizer("mainnet").normalize(read_fixture("tx02_ws_next_block.json"), received_ms=1)
    assert topics(frame) == ["mempool-blocks", tx_topic(RECORDED_TXID)]
    assert frame.ignored_keys == [] and frame.errors == []
    position = data_of(frame, tx_topic(RECORDED_TXID))["position"]
    assert (position["block_index"], position["vsize_ahead_vb"]) == (0, 128920.0)


def test_fee_mempool_blocks_scenarios() -> None:
    text = read_fixture("fee-mempool-blocks.json")
    normalizer = Normalizer("mainnet")
    raw_frame = normalizer.normalize(text, received_ms=1)
    check_frame(raw_frame)
    assert raw_frame.unknown_keys == ["subsat", "empty", "lowfee"]
    assert raw_frame.publications == []
    scenarios = json.loads(text)
    sizes = {}
    for name, blocks in scenarios.items():
        frame = normalizer.normalize(json.dumps({"mempool-blocks": blocks}), received_ms=1)
        check_frame(frame)
        assert frame.errors == []
        data = data_of(frame, "mempool-blocks")
        assert len(data["blocks"]) == len(blocks)
        sizes[name] = len(blocks)
        if name == "subsat":
            assert data["blocks"][1]["median_fee_rate"] == pytest.approx(0.6082, abs=1e-4)
            assert min(data["blocks"][2]["fee_range"]) < 1
    assert sizes == {"subsat": 8, "empty": 1, "lowfee": 8}
