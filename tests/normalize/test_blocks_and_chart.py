"""Blocks (live and snapshot, with or without extras) and live-2h-chart points, current and legacy."""

from __future__ import annotations

from typing import Any

from shared.models import FEE_BAND_FLOORS
from tests.normalize import samples
from tests.normalize.helpers import data_of, normalize, topics


def test_one_bad_block_of_a_snapshot_is_skipped() -> None:
    blocks = samples.init_frame()["blocks"]
    blocks[3]["id"] = 42
    result = normalize({"blocks": blocks})
    assert result.errors == ["blocks: [3].id: expected a string, got an integer"]
    assert [block.height for block in result.blocks_snapshot] == [
        837043,
        837044,
        837045,
        837047,
        837048,
        837049,
        837050,
    ]


def test_snapshot_is_sorted_oldest_first() -> None:
    blocks = samples.init_frame()["blocks"][::-1]
    result = normalize({"blocks": blocks})
    assert [block.height for block in result.blocks_snapshot] == list(range(837043, 837051))


def test_a_block_without_extras_or_pow_fields_still_normalizes() -> None:
    liquid = {
        key: value for key, value in samples.block().items() if key not in ("extras", "difficulty", "bits", "nonce")
    }
    result = normalize({"block": liquid})
    assert result.errors == []
    block = result.new_block
    assert block is not None
    assert (block.pool, block.reward_sats, block.fee_range, block.difficulty) == (None, None, [], None)
    assert block.vsize_vb == liquid["weight"] / 4
    assert block.bits is None


def test_block_vsize_prefers_extras_virtual_size() -> None:
    block = samples.block()
    block["extras"]["virtualSize"] = 123.25
    result = normalize({"block": block})
    assert result.new_block is not None and result.new_block.vsize_vb == 123.25


def _legacy_row(prefix: str, floors: list[int]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": 812,
        "added": "2021-03-30T12:34:00.000Z",
        "unconfirmed_transactions": 4100,
        "tx_per_second": 3.5,
        "vbytes_per_second": 1500,
        "mempool_byte_weight": 4000,
        "fee_data": "",
        "total_fee": 123456,
    }
    for floor in floors:
        row[f"{prefix}{floor}"] = floor + 1
    return row


def test_legacy_chart_row_with_38_vsize_columns() -> None:
    row = _legacy_row("vsize", list(FEE_BAND_FLOORS[1:]))
    shuffled = dict(reversed(list(row.items())))
    point = data_of(normalize({"live-2h-chart": shuffled}), "live-2h-chart")
    assert point["added_unix_s"] == 1617107640
    assert point["tx_count"] == 4100
    assert point["fee_band_floors"] == list(FEE_BAND_FLOORS[1:])
    assert point["vsize_by_fee_band"] == [floor + 1 for floor in FEE_BAND_FLOORS[1:]]
    assert (point["vbytes_per_second"], point["total_fee_sats"], point["min_fee_rate"]) == (
        1500.0,
        123456,
        None,
    )


def test_legacy_chart_row_with_underscored_columns_and_naive_date() -> None:
    row = _legacy_row("vsize_", list(FEE_BAND_FLOORS))
    row["added"] = "2021-03-30 12:34:00"
    point = data_of(normalize({"live-2h-chart": row}), "live-2h-chart")
    assert point["added_unix_s"] == 1617107640
    assert point["fee_band_floors"] == list(FEE_BAND_FLOORS)
    assert len(point["vsize_by_fee_band"]) == 39


def test_chart_with_38_bands_in_a_vsizes_list() -> None:
    point = data_of(normalize({"live-2h-chart": {**samples.chart_point(), "vsizes": list(range(38))}}), "live-2h-chart")
    assert point["fee_band_floors"] == list(FEE_BAND_FLOORS[1:])


def test_legacy_chart_with_a_bad_column_is_an_error() -> None:
    row = _legacy_row("vsize", list(FEE_BAND_FLOORS[1:]))
    row["vsize20"] = "many"
    result = normalize({"live-2h-chart": row, "vBytesPerSecond": 1})
    assert result.errors == ["live-2h-chart: vsize20: expected an integer, got a string"]
    assert topics(result) == ["stats"]
