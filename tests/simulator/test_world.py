"""The world on a simulated clock: determinism, plausible fees, cadence of blocks, ticks and chart points."""

from __future__ import annotations

import json
import statistics
from typing import Any

from shared.settings import Network
from simulator.events import ChartPoint, Conversions, Event, MempoolChange, NewBlock
from simulator.world import INIT_KEYS, World
from tests.simulator.conftest import PAID, settings
from tests.simulator.fixtures import fixture_frame

START = 1_770_000_000.0


def world(network: Network = "mainnet", seed: int = 4, **overrides: Any) -> World:
    return World(settings(network=network, seed=seed, anchor_unix_s=START - 30, **overrides), START)


def run(made: World, seconds: float, step: float) -> list[Event]:
    events: list[Event] = []
    for index in range(1, int(seconds / step) + 1):
        events += made.advance(START + index * step)
    return events


def parsed(made: World, key: str) -> Any:
    value = made.value(key)
    assert value is not None
    return json.loads(value)


def test_the_same_settings_and_clock_give_the_same_world() -> None:
    one, two = world(), world()
    assert one.init_data() == two.init_data()
    assert [repr(e) for e in run(one, 3, 0.1)] == [repr(e) for e in run(two, 3, 0.1)]
    assert one.init_data() == two.init_data()
    assert world(seed=5).init_data() != one.init_data()


def test_init_data_has_the_backend_keys_and_shapes() -> None:
    made = world()
    init = json.loads(made.init_data())
    assert tuple(init) == INIT_KEYS
    assert set(init["mempoolInfo"]) == set(fixture_frame("mainnet_mempoolInfo.json")["mempoolInfo"])
    assert init["mempoolInfo"]["total_fee"] == round(made.mempool.fees / 1e8, 8)
    assert [b["height"] for b in init["blocks"]] == list(range(made.chain.tip_height - 7, made.chain.tip_height + 1))
    stripped_keys = {"txid", "fee", "vsize", "value", "rate", "time"}
    assert len(init["transactions"]) == 6 and all(set(tx) == stripped_keys for tx in init["transactions"])
    assert len(init["rbfSummary"]) == 6 and set(init["conversions"]) >= {"time", "USD", "EUR", "JPY"}
    assert made.init_data().startswith('{"backend": "esplora", "mempoolInfo": {"loaded":true,')
    assert "conversions" not in json.loads(world("testnet4").init_data())


def test_blocks_ticks_and_chart_points_follow_the_speed() -> None:
    made = world(speed=600.0, tick_s=0.05)
    events = run(made, 10, 0.05)
    blocks = [e for e in events if isinstance(e, NewBlock)]
    ticks = [e for e in events if isinstance(e, MempoolChange)]
    charts = [e for e in events if isinstance(e, ChartPoint)]
    assert 5 <= len(blocks) <= 12 and [b.height for b in blocks] == list(
        range(blocks[0].height, made.chain.tip_height + 1)
    )
    assert 195 <= len(ticks) <= 200
    assert abs(len(charts) - 100 - len(blocks)) <= 1
    assert sum(isinstance(e, Conversions) for e in events) == 20
    assert [key for key, _ in ticks[0].stats] == [
        "mempoolInfo",
        "vBytesPerSecond",
        "transactions",
        "da",
        "fees",
    ]
    assert [key for key, _ in blocks[0].stats] == ["mempoolInfo", "vBytesPerSecond", "fees", "da"]


def test_fees_stay_plausible_and_ordered_over_hours_of_chain_time() -> None:
    made = world(speed=600.0, tick_s=0.25)
    nexts, fastest, sizes = [], [], []
    for index in range(1, 1201):
        made.advance(START + index * 0.25)
        fees = parsed(made, "fees")
        levels = [fees[k] for k in ("fastestFee", "halfHourFee", "hourFee", "economyFee", "minimumFee")]
        assert levels == sorted(levels, reverse=True) and fees["minimumFee"] == 0.1
        assert all(round(level, 3) == level for level in levels)
        nexts.append(parsed(made, "mempool-blocks")[0]["medianFee"])
        fastest.append(fees["fastestFee"])
        sizes.append(made.mempool.weight / 4)
    assert 1 <= statistics.median(nexts) <= 10
    assert sum(1 <= n <= 10 for n in nexts) > 0.8 * len(nexts) and max(nexts) < 200
    assert min(sizes) > 3_000_000 and max(sizes) < 60_000_000
    assert 1000 < parsed(made, "vBytesPerSecond") < 4000


def test_testnets_pay_more() -> None:
    def mean_fastest(network: Network) -> float:
        made = world(network, speed=600.0, tick_s=0.5)
        values: list[float] = []
        for index in range(1, 121):
            made.advance(START + index * 0.5)
            values.append(parsed(made, "fees")["fastestFee"])
        return float(statistics.mean(values))

    assert mean_fastest("testnet") > 1.5 * mean_fastest("mainnet")


def test_the_chart_keeps_two_hours_newest_first() -> None:
    made = world(speed=60.0, tick_s=0.5)
    history = json.loads(made.chart_history())
    assert len(history) == 120
    assert [p["added"] for p in history] == sorted((p["added"] for p in history), reverse=True)
    for point in history:
        assert len(point["vsizes"]) == 39 and point["mempool_byte_weight"] == 4 * sum(point["vsizes"])
    assert set(history[0]) == set(fixture_frame("composed/live-2h-chart.json")["live-2h-chart"])
    run(made, 30, 0.5)
    assert 120 <= len(json.loads(made.chart_history())) <= 130


def test_a_paid_address_enters_the_mempool_then_confirms() -> None:
    made = world(speed=600.0, tick_s=0.05)
    txid = made.pay(PAID, 50_000, START)
    events = run(made, 3, 0.05)
    [entered] = [e for e in events if isinstance(e, MempoolChange) and e.added]
    assert entered.added[0].tx["txid"] == txid and entered.added[0].tx["status"] == {"confirmed": False}
    assert txid in {tx["txid"] for tx in json.loads(entered.stats[2][1])}
    [mined] = [e for e in events if isinstance(e, NewBlock) and e.confirmed]
    assert mined.confirmed[0].tx["status"]["block_height"] == mined.height
    assert events.index(entered) < events.index(mined)
