"""The deterministic data model: chain, blocks, mempool, fees and payments."""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared.bitcoin.addresses import segwit_encode
from simulator.blocks import bits_difficulty, difficulty_bits
from simulator.chain import BASE_HEIGHT, Chain
from simulator.fees import precise_fees, recommended_fees
from simulator.market import FeeMarket
from simulator.mempool import BLOCK_WEIGHT, CHART_LEVELS, Mempool
from simulator.payments import RBF_CHANCE, Payments
from tests.simulator.conftest import PAID
from tests.simulator.fixtures import fixture_frame

ANCHOR = 1_770_000_000.0
FEE_ORDER = ("fastestFee", "halfHourFee", "hourFee", "economyFee", "minimumFee")


def chain(seed: int = 1, now: float = ANCHOR, speed: float = 1.0, anchor: float = ANCHOR) -> Chain:
    made = Chain(seed, "mainnet", anchor, speed, FeeMarket(seed, "mainnet"))
    made.start(now)
    return made


def test_same_seed_and_anchor_give_the_same_blocks() -> None:
    one, two = chain(), chain()
    assert one.tip_height == two.tip_height
    assert one.recent(20) == two.recent(20)


def test_a_different_seed_gives_different_blocks() -> None:
    one, two = chain(seed=1), chain(seed=2)
    assert one.tip_height == two.tip_height
    assert {b["id"] for b in one.recent(10)}.isdisjoint(b["id"] for b in two.recent(10))


def test_a_later_start_with_the_same_anchor_continues_the_chain() -> None:
    early, late = chain(now=ANCHOR + 3_000), chain(now=ANCHOR + 9_000)
    assert late.tip_height > early.tip_height
    assert late.recent(15, early.tip_height) == early.recent(15)
    while early.tip_height < late.tip_height:
        early.mine_slot()
    assert early.block_at(early.tip_height) == late.block_at(late.tip_height)


def test_slots_hold_one_block_each_at_base_height_plus_slot() -> None:
    made = chain(now=ANCHOR + 6_000)
    for _ in range(3):
        block = made.mine_slot()
        slot = made.tip_slot
        assert block["height"] == BASE_HEIGHT["mainnet"] + slot
        assert ANCHOR + slot * 600 <= block["timestamp"] < ANCHOR + (slot + 1) * 600
        assert made.next_block_time() >= ANCHOR + (slot + 1) * 600


def test_blocks_chain_by_previous_hash_with_realistic_hashes() -> None:
    blocks = chain().recent(15)
    for newer, older in itertools.pairwise(blocks):
        assert newer["previousblockhash"] == older["id"]
        assert newer["height"] == older["height"] + 1
        assert newer["timestamp"] >= older["timestamp"] and newer["mediantime"] <= newer["timestamp"]
    for block in blocks:
        assert block["id"].startswith("0" * 18) and len(block["id"]) == 64
        assert int(block["id"], 16) < bits_target_of(block["bits"])
        assert math.isclose(block["difficulty"], bits_difficulty(block["bits"]))
        assert block["extras"]["header"][8:72] == bytes.fromhex(block["previousblockhash"])[::-1].hex()


def bits_target_of(bits: int) -> int:
    return (bits & 0xFFFFFF) << 8 * ((bits >> 24) - 3)


def test_blocks_have_every_field_of_the_recorded_ones() -> None:
    recorded = fixture_frame("mainnet_mempoolInfo.json")["blocks"][-1]
    block = chain().recent(1)[0]
    assert set(recorded) <= set(block)
    assert set(recorded["extras"]) - {"pool"} <= set(block["extras"])
    assert set(block["extras"]["pool"]) == {"id", "name", "slug", "minerNames"}
    assert len(block["extras"]["feeRange"]) == 7 and block["extras"]["feeRange"] == sorted(block["extras"]["feeRange"])
    assert block["extras"]["reward"] == 312_500_000 + block["extras"]["totalFees"]
    assert 0.1 <= block["extras"]["medianFee"] < 100


def test_pools_follow_hashrate_shares() -> None:
    pools = [block["extras"]["pool"]["slug"] for block in chain(now=ANCHOR + 600 * 400).recent(400)]
    assert 0.2 < pools.count("foundryusa") / len(pools) < 0.4
    assert len(set(pools)) >= 8


def test_a_block_mined_now_takes_the_next_height_and_shifts_later_slots() -> None:
    made = chain(now=ANCHOR + 6_000)
    tip = made.tip_height
    extra = made.mine_now(ANCHOR + 6_001)
    following = made.mine_slot()
    assert (extra["height"], following["height"]) == (tip + 1, tip + 2)
    assert following["previousblockhash"] == extra["id"] and extra["previousblockhash"] == made.hash_at(tip)


def test_difficulty_adjustment_has_the_backend_fields_and_units() -> None:
    made = chain(now=ANCHOR + 100)
    da = made.difficulty_adjustment(ANCHOR + 100)
    assert set(da) == set(fixture_frame("composed/stats.json")["da"])
    assert da["remainingBlocks"] == da["nextRetargetHeight"] - made.tip_height
    assert da["nextRetargetHeight"] % 2016 == 0
    assert da["estimatedRetargetDate"] > (ANCHOR + 100) * 1000
    assert da["previousTime"] < ANCHOR and 500_000 < da["timeAvg"] < 700_000
    assert math.isclose(da["progressPercent"], (made.tip_height % 2016) / 2016 * 100)


@given(st.floats(0.5, 3.0), st.integers(0, 10))
def test_bits_round_trip_difficulty(scale: float, shift: int) -> None:
    difficulty = 1.49e14 * scale / 2**shift
    assert math.isclose(bits_difficulty(difficulty_bits(difficulty)), difficulty, rel_tol=1e-4)


def filled(seed: int = 3, weight: int = 40_000_000) -> Mempool:
    rng, pool = random.Random(seed), Mempool()
    while pool.weight < weight:
        rate = rng.choice((0.1, 0.2, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 12.0, 80.0)) * rng.uniform(1, 1.2)
        count = rng.randint(1, 50)
        pool.add(rate, count, 561 * count, 222 * count, math.ceil(rate * 140.25) * count)
    return pool


def test_projected_blocks_are_full_sorted_and_end_with_a_stack() -> None:
    blocks = filled().projected_blocks()
    assert len(blocks) == 8
    assert all(990_000 < b["blockVSize"] <= BLOCK_WEIGHT / 4 for b in blocks[:7])
    assert blocks[-1]["blockVSize"] > BLOCK_WEIGHT / 4 and len(blocks[-1]["feeRange"]) == 11
    assert any(b["blockVSize"] != int(b["blockVSize"]) for b in blocks)
    for block in blocks:
        assert block["feeRange"] == sorted(block["feeRange"])
        assert block["feeRange"][0] <= block["medianFee"] <= block["feeRange"][-1]
    medians = [b["medianFee"] for b in blocks]
    assert medians == sorted(medians, reverse=True)
    assert sum(b["nTx"] for b in blocks) == filled().count


def test_a_small_mempool_projects_fewer_blocks() -> None:
    blocks = filled(weight=6_000_000).projected_blocks()
    assert len(blocks) == 2 and len(blocks[-1]["feeRange"]) == 7


def test_mining_removes_about_one_block_of_the_highest_rates() -> None:
    pool = filled()
    top = pool.projected_blocks()[0]
    before = pool.weight
    removed = pool.mine()
    assert BLOCK_WEIGHT * 0.99 < removed <= BLOCK_WEIGHT and pool.weight == before - removed
    assert pool.projected_blocks()[0]["feeRange"][-1] <= top["feeRange"][0] * 1.01


def test_chart_bands_cover_the_mempool() -> None:
    pool = filled()
    vsizes = pool.chart_vsizes()
    assert len(vsizes) == len(CHART_LEVELS) == 39
    assert abs(sum(vsizes) - pool.weight / 4) < 39
    assert vsizes[0] > 0 and vsizes[-1] == 0


def test_precise_fees_reproduce_the_composed_fixture() -> None:
    frame = fixture_frame("composed/stats.json")
    min_fee = frame["mempoolInfo"]["mempoolminfee"] * 1e5
    assert precise_fees(frame["mempool-blocks"], min_fee) == frame["fees"]
    assert recommended_fees(frame["mempool-blocks"], min_fee) == {
        "fastestFee": 2,
        "halfHourFee": 2,
        "hourFee": 2,
        "economyFee": 2,
        "minimumFee": 1,
    }


@given(st.lists(st.tuples(st.floats(100_000, 999_000), st.floats(0.1, 500)), max_size=8), st.floats(0.1, 5))
def test_fee_levels_never_invert(blocks: list[tuple[float, float]], min_fee: float) -> None:
    projected: list[dict[str, Any]] = [{"blockVSize": v, "medianFee": m} for v, m in blocks]
    for fees in (precise_fees(projected, min_fee), recommended_fees(projected, min_fee)):
        levels = [fees[key] for key in FEE_ORDER]
        assert levels == sorted(levels, reverse=True)
        assert all(round(level, 3) == level for level in levels)


def address(index: int) -> str:
    return segwit_encode("bc", 0, hashlib.sha256(str(index).encode()).digest()[:20])


def run_payments(address: str, fees: dict[str, float]) -> list[tuple[int, str, str]]:
    payments = Payments(5, "mainnet")
    payments.on_tracked(address, 0)
    events: list[tuple[int, str, str]] = []
    for tick in range(1, 6):
        result = payments.on_tick(tick, ANCHOR + tick, fees, 900_000)
        events += [(tick, "added", tx["txid"]) for tx, _ in result.entered]
        events += [(tick, "removed", txid) for txid, _ in result.replacements]
    return events


def test_payments_are_seeded_by_address_and_sometimes_replaced() -> None:
    fees = {"fastestFee": 3.0, "economyFee": 0.2}
    assert run_payments(PAID, fees) == run_payments(PAID, fees)
    replaced = 0
    for index in range(200):
        events = run_payments(address(index), fees)
        first = events[0]
        assert first[1] == "added" and 1 <= first[0] <= 3
        replaced += any(kind == "removed" for _, kind, _ in events)
    assert 0.5 * RBF_CHANCE * 200 < replaced < 1.5 * RBF_CHANCE * 200


def test_a_replaced_payment_waits_for_its_replacement_which_does_not() -> None:
    fees = {"fastestFee": 3.0, "economyFee": 0.2}
    index = next(i for i in range(200) if any(kind == "removed" for _, kind, _ in run_payments(address(i), fees)))
    payments = Payments(5, "mainnet")
    payments.on_tracked(address(index), 0)
    tick, entered = 0, list[tuple[dict[str, Any], bool]]()
    while not entered:
        tick += 1
        entered = payments.on_tick(tick, ANCHOR, fees, 900_000).entered
    [(original, held)] = entered
    assert held and original["fee"] / (original["weight"] / 4) < 0.25
    result = payments.on_tick(tick + 1, ANCHOR, fees, 900_000)
    [(replaced, replacement)] = result.replacements
    assert replaced == original["txid"] and result.entered == []
    assert replacement["fee"] > original["fee"] and replacement["vin"] == original["vin"]
    assert replacement["vout"][0] == original["vout"][0]
    assert payments.on_tick(tick + 2, ANCHOR, fees, 900_000).replacements == []


def test_payment_transactions_have_the_fixture_fields() -> None:
    recorded = fixture_frame("composed/address-transactions.json")["address-transactions"][0]
    payments = Payments(5, "mainnet")
    payments.queue(PAID, 12_345, tick=1, rate=2.0, now=ANCHOR, locktime=900_000)
    [(tx, held)] = payments.on_tick(1, ANCHOR, {"fastestFee": 2.0, "economyFee": 0.2}, 900_000).entered
    assert not held
    assert list(tx) == list(recorded)
    assert list(tx["vin"][0]) == list(recorded["vin"][0])
    assert list(tx["vin"][0]["prevout"]) == list(recorded["vin"][0]["prevout"])
    assert tx["vout"][0] == {**tx["vout"][0], "scriptpubkey_address": PAID, "value": 12_345}
    assert tx["vout"][0]["scriptpubkey"] == recorded["vout"][0]["scriptpubkey"]
    assert tx["vsize"] == math.ceil(tx["weight"] / 4) and tx["adjustedVsize"] == tx["weight"] / 4
    assert tx["feePerVsize"] == tx["fee"] / tx["adjustedVsize"] and 1.9 < tx["feePerVsize"] < 2.1
    assert tx["order"] == int.from_bytes(bytes.fromhex(tx["txid"])[-4:], "little")
    total_in = sum(entry["prevout"]["value"] for entry in tx["vin"])
    assert total_in == sum(out["value"] for out in tx["vout"]) + tx["fee"]
